"""Helpers for the bundle tests: source mirrors, tree snapshots, a request-counting S3 proxy."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mirrorkit.core.plan.artifact import Kind
from mirrorkit.core.store.manifest import FileEntry, Manifest, load_manifest
from tests.support.cli import Result, run_cli
from tests.support.trees import tree  # noqa: F401  (re-exported for the bundle tests)
from tests.support.upstream import Upstream

INDEX = "/repo/index.json"


# ------------------------------------------------------------------ source mirrors
def publish(upstream: Upstream, files: dict[str, bytes]) -> None:
    """Serve ``files`` under /repo/ with the JSON index the static-list registry reads."""
    entries = []
    for path, body in sorted(files.items()):
        upstream.add(f"/repo/files/{path}", body, last_modified=1.7e9)
        entries.append({"path": path, "url": f"files/{path}",
                        "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)})
    upstream.add(INDEX, json.dumps(entries).encode(), last_modified=1.7e9 + len(entries))


def mirror_run(upstream: Upstream, dest: Path) -> Result:
    result = run_cli("run", "static-list", "--index-url", upstream.url + INDEX,
                     "--dest", dest, "--timeout", "5")
    assert result.code == 0, result.stderr
    return result


def make_mirror(dest: Path, files: dict[str, bytes], *, snapshot: str,
                mirror: str = "demo", index: tuple[str, ...] = ()) -> Manifest:
    """A mirror written directly (tree + manifest), for tests about the bundle format."""
    old = load_manifest(dest) if dest.exists() else None
    for path in (old.files if old else {}):
        if path not in files:
            (dest / path).unlink()
    manifest = Manifest(mirror=mirror, registry="static-list", snapshot=snapshot)
    for path, body in files.items():
        full = dest / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(body)
        os.utime(full, (1.7e9, 1.7e9))
        manifest.files[path] = FileEntry(size=len(body), sha256=hashlib.sha256(body).hexdigest(),
                                         kind=Kind.INDEX if path in index else Kind.BLOB)
    manifest.save(dest)
    return manifest


def random_files(count: int, size: int, seed: int = 0, prefix: str = "blobs") -> dict[str, bytes]:
    out = {}
    for i in range(count):
        body = hashlib.sha256(f"{seed}:{i}".encode()).digest() * (size // 32 + 1)
        out[f"{prefix}/{i:03d}.bin"] = os.urandom(64) + body[:size]
    return out



def only_toc(directory: Path) -> dict[str, Any]:
    tocs = sorted(directory.glob("*.toc.json"))
    assert len(tocs) == 1, tocs
    data: dict[str, Any] = json.loads(tocs[0].read_bytes())
    return data


# ------------------------------------------------------------- counting S3 proxy
class S3Proxy:
    """Forwards to moto and logs (method, path, query); can hold requests for a key."""

    def __init__(self, endpoint: str) -> None:
        self.upstream = urlsplit(endpoint)
        self.log: list[tuple[str, str, str]] = []
        self.hold_substring: str | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self) -> None:
                body = self._body()
                path, _, query = self.path.partition("?")
                proxy.log.append((self.command, path, query))
                if proxy.hold_substring and proxy.hold_substring in path:
                    proxy.held.set()
                    proxy.release.wait(30)
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname,
                                                  proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("transfer-encoding", "content-length")}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> S3Proxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def uploads_of(self, key_substring: str) -> list[tuple[str, str, str]]:
        """PutObject and UploadPart requests for keys containing ``key_substring``."""
        return [r for r in self.log if r[0] == "PUT" and key_substring in r[1]]
