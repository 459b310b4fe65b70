"""A moto S3 server whose requests are logged in the order the server saw them.

The ordering promises of the s3 sink (every blob stored before any index is written, stale
keys deleted after the indexes, the published state last) are checked from this log: each
request is recorded when the server starts handling it and when it has answered, so "all
blob writes ended before the first index write began" is a statement about the server.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import boto3
from moto.server import ThreadedMotoServer


@dataclass(frozen=True)
class Event:
    seq: int
    phase: str  # "start" | "end"
    method: str
    bucket: str
    key: str
    query: str


@dataclass
class LoggedS3:
    endpoint: str
    events: list[Event] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: Iterator[int] = field(default_factory=itertools.count)

    def record(self, phase: str, environ: dict[str, Any]) -> None:
        path = unquote(environ.get("PATH_INFO", ""))
        bucket, _, key = path.lstrip("/").partition("/")
        with self._lock:
            self.events.append(Event(next(self._seq), phase, environ["REQUEST_METHOD"],
                                     bucket, key, environ.get("QUERY_STRING", "")))

    def clear(self) -> None:
        with self._lock:
            self.events.clear()

    def requests(self, bucket: str) -> list[Event]:
        """One event per request (its start), in arrival order."""
        return [e for e in self.events if e.phase == "start" and e.bucket == bucket]

    def writes(self, bucket: str) -> list[Event]:
        return [e for e in self.requests(bucket) if e.method in ("PUT", "POST", "DELETE")]

    def spans(self, bucket: str, match: Callable[[Event], bool]) -> list[tuple[int, int]]:
        """``(start seq, end seq)`` of every write request for which ``match`` holds."""
        starts: dict[tuple[str, str, str], list[int]] = {}
        out = []
        for e in self.events:
            if e.bucket != bucket or e.method not in ("PUT", "POST", "DELETE") or not match(e):
                continue
            ident = (e.method, e.key, e.query)
            if e.phase == "start":
                starts.setdefault(ident, []).append(e.seq)
            else:
                out.append((starts[ident].pop(0), e.seq))
        return out

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }

    def client(self) -> Any:
        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing",
            region_name="us-east-1").client("s3", endpoint_url=self.endpoint)


class LoggingApp:
    def __init__(self, app: Any, log: LoggedS3) -> None:
        self.app = app
        self.log = log

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.log.record("start", environ)
        try:
            return list(self.app(environ, start_response))
        finally:
            self.log.record("end", environ)


class OneAtATime:
    """Answers one request at a time, as S3 makes each conditional write atomic.

    moto (5.2) checks ``If-Match`` / ``If-None-Match`` of a PUT and then writes, with no
    lock between the two (``moto/s3/responses.py``, ``put_object``), so two concurrent
    conditional writes of one key could both pass its check, which S3 never allows.
    Serialising the requests gives moto S3's guarantee; the clients still race.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


def start_logged_server(*, atomic_writes: bool = False) -> tuple[ThreadedMotoServer, LoggedS3]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    logged = LoggedS3(endpoint=f"http://{host}:{port}")
    wsgi = server._server  # the werkzeug server reads .app on every request
    assert wsgi is not None
    wsgi.app = LoggingApp(OneAtATime(wsgi.app) if atomic_writes else wsgi.app, logged)
    return server, logged
