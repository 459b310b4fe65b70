"""A plain static web server over a directory, as an operator would serve a mirror.

The standard library's ``SimpleHTTPRequestHandler``: files as they are on disk, a
``Last-Modified`` from their mtime (and ``304`` to ``If-Modified-Since``), ``%XX`` in paths
decoded to file names, no rewriting of any kind. It runs on a thread of the test process.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["StaticSite", "serve_directory"]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        self.server.log.append(format % args)  # type: ignore[attr-defined]


class StaticSite:
    def __init__(self, root: Path) -> None:
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.log: list[str] = []
        self._server.log = self.log  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def requests(self, needle: str = "") -> list[str]:
        """Log lines so far (``"GET /path HTTP/1.1" 200 -``) containing ``needle``."""
        return [line for line in self.log if needle in line]

    def start(self) -> StaticSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def serve_directory(root: Path) -> Iterator[StaticSite]:
    site = StaticSite(root).start()
    try:
        yield site
    finally:
        site.stop()
