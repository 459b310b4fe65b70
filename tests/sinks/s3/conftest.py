"""Fixtures for the s3 sink tests: a request-logging moto server and a fresh bucket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from s3log import LoggedS3, start_logged_server


@pytest.fixture(scope="session")
def s3_logged() -> Iterator[LoggedS3]:
    server, logged = start_logged_server()
    try:
        yield logged
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_logged: LoggedS3) -> str:
    name = f"mirror-{uuid.uuid4().hex[:12]}"
    s3_logged.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def s3_atomic() -> Iterator[LoggedS3]:
    """moto answering one request at a time: conditional writes atomic, as on S3."""
    server, logged = start_logged_server(atomic_writes=True)
    try:
        yield logged
    finally:
        server.stop()
