"""The Homebrew-shaped upstream of ``homebrew_bottles.py``, served by Python instead of nginx.

    python benchmarks/_brew_upstream.py ROOT REGISTRY_PORT CDN_PORT DELAY_MS TOKEN

Users test a mirror against a small asyncio server on their laptop far more often than
against nginx: that server then competes with the client for the same two cores, and a
client that spends more CPU per request loses more time than against nginx, whose worker
needs almost none. This is that upstream, serving exactly what the nginx configuration in
``homebrew_bottles.py`` serves from ``ROOT/fast`` (read into memory once, at start):

- ``/api/...`` and ``/token`` on the registry port;
- ``/v2/<repo>/(manifests|blobs)/...`` answering anything but ``Bearer TOKEN`` with a
  ``401`` and a ``WWW-Authenticate`` challenge naming the repository, a manifest with its
  bytes and a blob with a ``307`` to the CDN port;
- ``/blobs/<sha256>`` on the CDN port, which refuses any ``Authorization`` (``400``);
- ``DELAY_MS`` before every answer, on every port (``asyncio.sleep``, like nginx's
  non-blocking ``echo_sleep``).

It prints ``ready`` once both ports listen, and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import signal
import sys
from pathlib import Path

from aiohttp import web

_REPO = re.compile(r"^/v2/(.+)/(manifests|blobs)/")


class Files:
    """Every file under ``ROOT/fast``, with the validators nginx would send for it."""

    def __init__(self, fast: Path) -> None:
        self.bodies: dict[str, tuple[bytes, dict[str, str]]] = {}
        for path in fast.rglob("*"):
            if path.is_file():
                st = path.stat()
                headers = {"Content-Type": "application/octet-stream",
                           "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True),
                           "ETag": f'"{int(st.st_mtime):x}-{st.st_size:x}"'}
                self.bodies["/" + path.relative_to(fast).as_posix()] = (path.read_bytes(),
                                                                        headers)

    def answer(self, path: str) -> web.Response:
        found = self.bodies.get(path)
        if found is None:
            return web.Response(status=404, text="not found\n")
        body, headers = found
        return web.Response(body=body, headers=headers)


def apps(root: Path, registry_port: int, cdn_port: int, delay: float,
         token: str) -> tuple[web.Application, web.Application]:
    files = Files(root / "fast")
    bearer = f"Bearer {token}"
    realm = f"http://127.0.0.1:{registry_port}/token"

    async def registry(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay)
        path = request.path
        if path.startswith("/api/"):
            return files.answer(path)
        if path == "/token":
            return files.answer("/token.json")
        if not path.startswith("/v2/"):
            return web.Response(status=404, text="not found\n")
        if request.headers.get("Authorization") != bearer:
            match = _REPO.match(path)
            repo = match.group(1) if match else ""
            challenge = (f'Bearer realm="{realm}",service="bench",'
                         f'scope="repository:{repo}:pull"')
            return web.Response(status=401, text='{"errors":[{"code":"UNAUTHORIZED"}]}',
                                headers={"WWW-Authenticate": challenge})
        if "/blobs/sha256:" in path:
            digest = path.rsplit(":", 1)[1]
            return web.Response(status=307, headers={
                "Location": f"http://127.0.0.1:{cdn_port}/blobs/{digest}?sig=abc"})
        return files.answer(path)

    async def cdn(request: web.Request) -> web.StreamResponse:
        if "Authorization" in request.headers:
            return web.Response(status=400, text="no credentials here")
        await asyncio.sleep(delay)
        return files.answer(request.path)

    reg_app, cdn_app = web.Application(), web.Application()
    reg_app.router.add_route("GET", "/{tail:.*}", registry)
    cdn_app.router.add_route("GET", "/{tail:.*}", cdn)
    return reg_app, cdn_app


async def serve(root: Path, registry_port: int, cdn_port: int, delay: float,
                token: str) -> None:
    reg_app, cdn_app = apps(root, registry_port, cdn_port, delay, token)
    runners = []
    for app, port in ((reg_app, registry_port), (cdn_app, cdn_port)):
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        runners.append(runner)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


def main() -> None:
    root, registry_port, cdn_port, delay_ms, token = sys.argv[1:6]
    asyncio.run(serve(Path(root), int(registry_port), int(cdn_port), float(delay_ms) / 1000,
                      token))


if __name__ == "__main__":
    main()
