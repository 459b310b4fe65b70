"""Test helpers for plugin authors: a loopback upstream and a run helper.

A plugin's tests look like mirrorkit's own: serve files from a real HTTP server on
127.0.0.1 (with faults on demand), run the mirror through the same pipeline as
``mirrorkit run``, and look at the report and the tree::

    from mirrorkit.testing import Upstream, run_mirror_for_test

    def test_mirrors_the_index(tmp_path):
        with Upstream() as up:
            up.add("/index.json", b"[]")
            report = run_mirror_for_test("static-list", tmp_path / "m",
                                         index_url=up.url + "/index.json")
        assert report.status == "ok"

Nothing here imports pytest, so the module works under any test runner.

The upstream logs every request (method, path, headers) so tests can assert what a run asked
for. Faults are queued per path and consumed one per request, so "fail twice, then succeed"
is ``fault(path, "status", times=2, code=503)``.
"""


from __future__ import annotations

import email.utils
import hashlib
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.run.report import RunReport

__all__ = [
    "FAST_RETRIES",
    "CliResult",
    "Fault",
    "Handler",
    "Request",
    "Resource",
    "Upstream",
    "cli_env",
    "run_cli",
    "run_mirror_async",
    "run_mirror_for_test",
]


@dataclass
class Resource:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: float | None = None


@dataclass
class Fault:
    kind: str  # status | reset | truncate | corrupt | stall | drip
    code: int = 503
    retry_after: str | None = None
    seconds: float = 0.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    host: str


Route = Callable[["Handler"], bool]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.request_body = self.rfile.read(length) if length else b""
        self._handle(head=False)

    def send_body(self, code: int, body: bytes, headers: dict[str, str] | None = None,
                  head: bool = False) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _handle(self, head: bool) -> None:
        up = self.server.upstream
        path = self.path.split("?", 1)[0]
        up.log.append(Request(self.command, self.path, dict(self.headers.items()),
                              self.headers.get("Host", "")))
        for prefix, route in up.routes:
            if path.startswith(prefix) and route(self):
                return
        res = up.files.get(path)
        if res is None:
            self.send_body(404, b"not found\n", head=head)
            return
        fault = up.take_fault(path)
        body = res.body
        if fault is not None:
            if fault.kind == "status":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self.send_body(fault.code, b"injected failure\n", headers)
                return
            if fault.kind == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            if fault.kind == "stall":
                time.sleep(fault.seconds)
            if fault.kind == "corrupt":
                body = bytes([body[0] ^ 0xFF]) + body[1:] if body else b"x"
        headers = dict(res.headers)
        if res.etag:
            headers["ETag"] = res.etag
        if res.last_modified is not None:
            headers["Last-Modified"] = email.utils.formatdate(res.last_modified, usegmt=True)
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if (inm and res.etag and inm == res.etag) or (
            not inm and ims and res.last_modified is not None
            and email.utils.parsedate_to_datetime(ims).timestamp() >= int(res.last_modified)
        ):
            self.send_response(304)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault is not None and fault.kind == "truncate":
            self.send_response(200)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "drip":
            self.send_response(200)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(0, len(body), 1024):
                self.wfile.write(body[i:i + 1024])
                self.wfile.flush()
                time.sleep(fault.seconds)
            return
        self.send_body(200, body, headers, head=head)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    upstream: Upstream

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-body (a size check cutting a download short) is normal
        # here; a traceback on stderr would land in the output a test is reading.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class Upstream:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.scheme = "https" if tls else "http"
        self.files: dict[str, Resource] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.routes: list[tuple[str, Route]] = []
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.upstream = self
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> Upstream:
        self._thread.start()
        return self

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, path: str, body: bytes, *, etag: bool = True,
            last_modified: float | None = None, headers: dict[str, str] | None = None) -> str:
        """Serve ``body`` at ``path``; returns its sha256."""
        digest = hashlib.sha256(body).hexdigest()
        self.files[path] = Resource(
            body=body, headers=dict(headers or {}),
            etag=f'"{digest[:16]}"' if etag else None, last_modified=last_modified,
        )
        return digest

    def remove(self, path: str) -> None:
        self.files.pop(path, None)

    def route(self, prefix: str, handler: Route) -> None:
        """``handler(req)`` answers requests under ``prefix``; return False to fall through."""
        self.routes.append((prefix, handler))

    def fault(self, path: str, kind: str, *, times: int = 1, **kw: Any) -> None:
        with self._lock:
            self.faults.setdefault(path, []).extend(Fault(kind, **kw) for _ in range(times))

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(path)
            return queue.pop(0) if queue else None

    def requests(self, prefix: str = "", method: str | None = None) -> list[Request]:
        return [r for r in self.log if r.path.startswith(prefix)
                and (method is None or r.method == method)]

    def clear_log(self) -> None:
        self.log.clear()


# ------------------------------------------------------------------------------ running
def run_mirror_for_test(
    registry: str,
    dest: Path | str,
    *,
    plugins: Sequence[object] = (),
    settings: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    **options: Any,
) -> RunReport:
    """Run one mirror in-process, exactly as ``mirrorkit run`` would, and return its report.

    ``options`` are the registry's keys (as in a ``[[mirrors]]`` TOML entry); ``plugins``
    registers extra plugin modules or objects beside the installed ones (a plugin under
    test that is not installed). Fast retries by default, so a fault test takes no time.
    """
    import anyio

    async def main() -> RunReport:
        return await run_mirror_async(registry, dest, plugins=plugins, settings=settings,
                                      dry_run=dry_run, **options)

    return anyio.run(main)


async def run_mirror_async(
    registry: str,
    dest: Path | str,
    *,
    plugins: Sequence[object] = (),
    settings: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    **options: Any,
) -> RunReport:
    """:func:`run_mirror_for_test` for async tests (pytest-anyio, pytest-asyncio)."""
    from .core.plugin.host import load_plugins
    from .core.run.pipeline import mirror_from_options, run_mirror

    host = load_plugins(*plugins)
    mirror = mirror_from_options(registry, host=host, dest=dest,
                                 settings={**FAST_RETRIES, **(settings or {})}, **options)
    return await run_mirror(mirror, host=host, dry_run=dry_run)


#: engine settings that keep retry tests fast (the defaults wait seconds between retries)
FAST_RETRIES: dict[str, Any] = {"backoff_initial": 0.05, "backoff_max": 0.2, "timeout": 5}


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a command-line run against loopback servers (no proxies)."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.setdefault("COLUMNS", "120")
    env.update(extra or {})
    return env


def run_cli(*args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None, input: str | None = None) -> CliResult:
    """Run the real ``mirrorkit`` command line in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "mirrorkit", *map(str, args)],
        capture_output=True, text=True, env=cli_env(env), timeout=timeout, cwd=cwd,
        input=input, check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
