"""The S3 store: a snapshot applied to ``s3://bucket/prefix`` with no local tree.

S3 has no rename, so each object is written whole by one PUT (or one completed multipart
upload) and the order of :func:`..apply.apply_changeset` is what keeps a client reading the
bucket from meeting an index that names a missing object. The state (the manifest) is the
object ``<prefix>/.mirrorkit/published.json``, written last.

One writer at a time: :class:`S3Lock` creates ``<prefix>/.mirrorkit/lock`` with a
conditional PUT (``If-None-Match: *``), which S3 and current S3-compatible stores refuse
when the object exists, and holds it under a lease (:mod:`.lease`), so the lock of a writer
killed without releasing it is taken over once its lease has run out. The store checks the
lease before each write, and stops once another writer has taken the lock over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ..changeset import Changeset, Link, Put
from ..manifest import Manifest
from .client import S3Error, describe
from .lease import DEFAULT_LEASE_S, Lease, LeaseHeld, LeaseHolder, LeaseLost
from .state import published_manifest, save_published
from .target import S3Target
from .upload import Uploader, UploadSettings

__all__ = ["LOCK_KEY", "LeaseLost", "S3Lock", "S3Locked", "S3Store"]

DELETE_BATCH = 1000  # DeleteObjects' limit
LOCK_KEY = ".mirrorkit/lock"


class S3Locked(S3Error):
    """Another writer holds the prefix."""


class S3Store:
    def __init__(self, client: Any, target: S3Target, settings: UploadSettings,
                 log: logging.Logger, *, full_state: bool = False,
                 lock: S3Lock | None = None) -> None:
        self.client = client
        self.target = target
        # before each write: stop once another writer has taken the lock over
        self.check: Callable[[], None] = lock.check if lock is not None else _unguarded
        self.uploader = Uploader(client, target, settings, log, check=self.check)
        self.full_state = full_state  # a run keeps etags and grace times; publish does not
        self.deleted = 0

    def describe(self) -> str:
        return str(self.target)

    def preflight(self, changes: Changeset) -> None:
        pass  # keys have no parents to be in the way

    def put_many(self, puts: list[Put]) -> None:
        self.uploader.upload(puts)

    def link(self, links: list[Link]) -> None:
        """A second key with the same bytes: a server-side copy (S3 has no links)."""
        for lk in links:
            self.check()
            try:
                self.client.copy_object(
                    Bucket=self.target.bucket, Key=self.target.key(lk.path),
                    CopySource={"Bucket": self.target.bucket, "Key": self.target.key(lk.target)})
            except Exception as exc:
                raise S3Error(f"{self.target}: copying {lk.target} to {lk.path} failed: "
                              f"{describe(exc)}") from None

    def delete_many(self, paths: list[str]) -> int:
        for start in range(0, len(paths), DELETE_BATCH):
            batch = paths[start:start + DELETE_BATCH]
            self.check()
            try:
                resp = self.client.delete_objects(
                    Bucket=self.target.bucket,
                    Delete={"Objects": [{"Key": self.target.key(p)} for p in batch],
                            "Quiet": True},
                )
            except Exception as exc:
                raise S3Error(f"{self.target}: deleting stale objects failed: "
                              f"{describe(exc)}") from None
            errors = resp.get("Errors") or []
            if errors:
                first = errors[0]
                raise S3Error(f"{self.target}: {len(errors)} stale objects could not be "
                              f"deleted: {first.get('Key')}: {first.get('Code')}: "
                              f"{first.get('Message')}")
        self.deleted += len(paths)
        return len(paths)

    def publish(self, manifest: Manifest) -> None:
        self.check()
        save_published(self.client, self.target,
                       manifest if self.full_state else published_manifest(manifest))


def _unguarded() -> None:
    pass


class S3Lock:
    """``<prefix>/.mirrorkit/lock`` (or another lock object ``key``), held under a lease.

    Taken on entry (or taken over, once the lease of a killed holder has run out), renewed
    while held, deleted on exit; see :mod:`.lease`. :meth:`check` raises
    :class:`.lease.LeaseLost` once the lock was taken over, and so does the exit.
    """

    def __init__(self, client: Any, target: S3Target, command: str, *,
                 lease: float = DEFAULT_LEASE_S, key: str = LOCK_KEY) -> None:
        self.target = target
        self.key = target.key(key)
        self.lease = Lease(client, target.bucket, self.key, command=command, seconds=lease)

    def __enter__(self) -> S3Lock:
        try:
            self.lease.__enter__()
        except LeaseHeld as exc:
            raise S3Locked(self._in_use(exc.holder)) from None
        return self

    def check(self) -> None:
        """Raise LeaseLost unless this process still holds the lock (before each write)."""
        self.lease.check()

    def refuse_if_held(self) -> None:
        """Refuse while a live holder has the lock; reads it, writes nothing."""
        holder = self.lease.read()
        if holder is not None and not holder.expired:
            raise S3Locked(self._in_use(holder))

    def _in_use(self, holder: LeaseHolder) -> str:
        line = f"{self.target} is in use by another run ({holder.describe()})"
        if holder.lease_seconds is None:  # a lock without a lease never runs out
            return (f"{line}; wait for it to finish, or, if no run is active (one was "
                    f"killed), delete s3://{self.target.bucket}/{self.key}")
        return (f"{line}; wait for it to finish (the lease is renewed while it works, and a "
                "killed run's lock is taken over once its lease runs out)")

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.lease.__exit__(et, e, tb)
