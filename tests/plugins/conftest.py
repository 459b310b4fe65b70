"""Fixtures the registry suites share: a moto bucket that logs every request per key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.logged_bucket import LoggedBucket, LoggedMoto, logged_moto


@pytest.fixture(scope="session")
def moto_logged() -> Iterator[LoggedMoto]:
    yield from logged_moto()


@pytest.fixture
def bucket(moto_logged: LoggedMoto) -> LoggedBucket:
    """A new bucket; the mirror goes to ``s3://<bucket>/mirror``."""
    return moto_logged.bucket()
