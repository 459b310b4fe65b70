"""moto in server mode in a process of its own, logging when each write request ended.

    python benchmarks/_s3.py PORT LOG

A process of its own so that its CPU is not the benchmark's (and its memory goes with it);
the log (``<unix time> <method> <path>`` per answered PUT, POST or DELETE, on the wall clock
the benchmark also reads) dates the steps of a run from the store's side, e.g. when a worker
wrote its record and so began its commit.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote

from _harness import stop_process

__all__ = ["S3Server"]

WRITES = frozenset({"PUT", "POST", "DELETE"})


class WriteLog:
    def __init__(self, app: Any, out: TextIO) -> None:
        self.app = app
        self.out = out
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            return list(self.app(environ, start_response))
        finally:
            method = environ["REQUEST_METHOD"]
            if method in WRITES:
                line = f"{time.time():.6f} {method} {unquote(environ.get('PATH_INFO', ''))}\n"
                with self.lock:
                    self.out.write(line)
                    self.out.flush()


def serve(port: int, log: Path) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wsgi = server._server  # the werkzeug server reads .app on every request
    assert wsgi is not None
    with log.open("a") as out:
        wsgi.app = WriteLog(wsgi.app, out)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        server.stop()


class S3Server:
    """The server process on ``port``, its log at ``log``; a fresh store each time."""

    def __init__(self, python: Path, port: int, log: Path) -> None:
        self.python = python
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": self.endpoint}

    def __enter__(self) -> S3Server:
        self.log.write_text("")
        self.proc = subprocess.Popen([str(self.python), __file__, str(self.port),
                                      str(self.log)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto did not start") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc)

    def writes(self) -> list[tuple[float, str, str]]:
        out = []
        for line in self.log.read_text().splitlines():
            when, method, path = line.split(" ", 2)
            out.append((float(when), method, path))
        return out


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
