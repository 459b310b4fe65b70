"""S3 for tests: moto in server mode on a loopback port, reached over real HTTP by boto3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from moto.server import ThreadedMotoServer


@dataclass
class MotoServer:
    endpoint: str

    def env(self) -> dict[str, str]:
        """The standard AWS variables a user would set for an S3-compatible store."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }


def moto_server() -> Iterator[MotoServer]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoServer(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()


def new_bucket(prefix: str) -> str:
    """A new bucket of its own for one test, in the moto the S3 variables point at."""
    import boto3

    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def bucket_objects(bucket: str, *, written_at: bool = False) -> dict[str, tuple[Any, ...]]:
    """Every object of the bucket: key -> (ETag, bytes), or (ETag, LastModified, bytes)
    with ``written_at`` (an object rewritten with the same bytes then compares unequal)."""
    import boto3

    client = boto3.client("s3")
    out: dict[str, tuple[Any, ...]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            out[obj["Key"]] = ((obj["ETag"], obj["LastModified"], body) if written_at
                               else (obj["ETag"], body))
    return out
