"""The S3 store: a snapshot applied to ``s3://bucket/prefix`` with no local tree.

S3 has no rename, so each object is written whole by one PUT (or one completed multipart
upload) and the order of :func:`..apply.apply_changeset` is what keeps a client reading the
bucket from meeting an index that names a missing object. The state (the manifest) is the
object ``<prefix>/.mirrorkit/published.json``, written last.

One writer at a time: :class:`S3Lock` creates ``<prefix>/.mirrorkit/lock`` with a
conditional PUT (``If-None-Match: *``), which S3 and current S3-compatible stores refuse
when the object exists. A writer killed without releasing it leaves the object behind; the
next run is then refused with a line that names the object to delete once no run is active.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from types import TracebackType
from typing import Any

from ..changeset import Changeset, Link, Put
from ..manifest import Manifest
from .client import S3Error, describe, is_not_found, is_precondition_failed
from .state import published_manifest, save_published
from .target import S3Target
from .upload import Uploader, UploadSettings

__all__ = ["LOCK_KEY", "S3Lock", "S3Locked", "S3Store"]

DELETE_BATCH = 1000  # DeleteObjects' limit
LOCK_KEY = ".mirrorkit/lock"


class S3Locked(S3Error):
    """Another writer holds the prefix."""


class S3Store:
    def __init__(self, client: Any, target: S3Target, settings: UploadSettings,
                 log: logging.Logger, *, full_state: bool = False) -> None:
        self.client = client
        self.target = target
        self.uploader = Uploader(client, target, settings, log)
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
        save_published(self.client, self.target,
                       manifest if self.full_state else published_manifest(manifest))


class S3Lock:
    """``<prefix>/.mirrorkit/lock``, created only if absent; deleted on exit."""

    def __init__(self, client: Any, target: S3Target, command: str) -> None:
        self.client = client
        self.target = target
        self.key = target.key(LOCK_KEY)
        self.command = command
        self._held = False

    def __enter__(self) -> S3Lock:
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "command": self.command}
        try:
            self.client.put_object(Bucket=self.target.bucket, Key=self.key, IfNoneMatch="*",
                                   Body=json.dumps(info).encode(),
                                   ContentType="application/json")
        except Exception as exc:
            if is_precondition_failed(exc):
                raise S3Locked(
                    f"{self.target} is in use by another run ({self._holder()}); wait for it "
                    f"to finish, or, if no run is active (one was killed), delete "
                    f"s3://{self.target.bucket}/{self.key}") from None
            raise S3Error(f"{self.target}: cannot take the lock: {describe(exc)}") from None
        self._held = True
        return self

    def refuse_if_held(self) -> None:
        """For a writer that does not take the lock (publish): refuse while a run holds it."""
        try:
            self.client.head_object(Bucket=self.target.bucket, Key=self.key)
        except Exception as exc:
            if is_not_found(exc):
                return
            raise S3Error(f"{self.target}: cannot check the lock: {describe(exc)}") from None
        raise S3Locked(f"{self.target} is in use by a run mirroring into it "
                       f"({self._holder()}); publish elsewhere, or wait for it to finish")

    def _holder(self) -> str:
        try:
            raw = self.client.get_object(Bucket=self.target.bucket, Key=self.key)["Body"].read()
            info = json.loads(raw)
            return (f"pid {info['pid']} on {info['host']} since {info['since']}: "
                    f"{info['command']}")
        except Exception:
            return "holder unknown"

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._held:
            self._held = False
            try:
                self.client.delete_object(Bucket=self.target.bucket, Key=self.key)
            except Exception as exc:
                logging.getLogger("mirrorkit.store").warning(
                    "%s: could not remove the lock %s: %s", self.target, self.key,
                    describe(exc))
