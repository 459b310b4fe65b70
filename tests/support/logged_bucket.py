"""A bucket for the registries' runs into ``s3://``: moto in server mode over HTTP, with a log
of every request it handled, and a snapshot of every object's bytes.

The apt and git tests use it to say what a user of a bucket mirror would notice: which
objects a run wrote or deleted, and whether the bucket is byte for byte what it was.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import boto3
from moto.server import ThreadedMotoServer


@dataclass
class LoggedBucket:
    """One bucket on a moto server; ``requests`` lists (method, key) in arrival order."""

    endpoint: str
    name: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"s3://{self.name}/mirror"

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ENDPOINT_URL_S3": self.endpoint}

    def client(self) -> Any:
        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing",
            region_name="us-east-1").client("s3", endpoint_url=self.endpoint)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def writes(self, *, under: str = "mirror/") -> list[tuple[str, str]]:
        """PUTs, POSTs and DELETEs of keys under ``under`` (the mirror, not the bucket)."""
        return [(m, k) for m, k in list(self.requests)
                if m in ("PUT", "POST", "DELETE") and k.startswith(under)]

    def objects(self) -> dict[str, tuple[str, bytes]]:
        """Every object of the bucket: key -> (ETag, bytes)."""
        s3 = self.client()
        out = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=self.name, Key=obj["Key"])["Body"].read()
                out[obj["Key"]] = (obj["ETag"], body)
        return out

    def published(self) -> dict[str, bytes]:
        """The mirror's files as clients read them (the core's ``.mirrorkit/`` left out)."""
        return {k.removeprefix("mirror/"): body for k, (_, body) in self.objects().items()
                if k.startswith("mirror/") and not k.startswith("mirror/.mirrorkit/")}


class _Logging:
    def __init__(self, app: Any, sink: list[LoggedBucket]) -> None:
        self.app = app
        self.sink = sink

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        bucket, _, key = unquote(environ.get("PATH_INFO", "")).lstrip("/").partition("/")
        for logged in self.sink:
            if logged.name == bucket:
                with logged._lock:
                    logged.requests.append((environ["REQUEST_METHOD"], key))
        return self.app(environ, start_response)


@dataclass
class LoggedMoto:
    endpoint: str
    buckets: list[LoggedBucket]

    def bucket(self) -> LoggedBucket:
        bucket = LoggedBucket(self.endpoint, f"mirror-{uuid.uuid4().hex[:12]}")
        bucket.client().create_bucket(Bucket=bucket.name)
        self.buckets.append(bucket)
        return bucket


def logged_moto() -> Iterator[LoggedMoto]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    logged = LoggedMoto(f"http://{host}:{port}", [])
    wsgi = server._server  # the werkzeug server reads .app on every request
    assert wsgi is not None
    wsgi.app = _Logging(wsgi.app, logged.buckets)
    try:
        yield logged
    finally:
        server.stop()
