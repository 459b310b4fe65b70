"""The bucket side of a sharded run: each worker's lock, its uploads, the records, the commit.

Objects under ``<prefix>/.mirrorkit/shards/``:

- ``<I>.lock``: worker I's lock, under a lease like the bucket's own lock, so a retried
  index never runs beside a live one, and a killed worker's index proceeds once the lease
  runs out (the retry then resumes: it asks the bucket which of its files are stored);
- ``<base>/<I>.json``: what worker I stored (path, size, sha256) for the run that starts
  from snapshot ``base``, written when its share is done;
- the commit takes the bucket's own lock (``.mirrorkit/lock``): of the workers that find
  every record present, the one that gets it commits, the others exit.

Workers only ever write keys no published index names (new paths) and their own
coordination objects, so nothing half-done is visible; the commit, under the bucket's lock,
is an ordinary commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...fetch.early_commit import Pending
from ...fileops import write_chunks
from ...run.shards import ShardError, ShardRecord, ShardSpec
from ..manifest import FileEntry
from ..target import TargetFailed
from .client import S3Error, describe, is_not_found
from .content_type import content_type
from .store import LeaseLost, S3Lock, S3Locked
from .target import S3Target

__all__ = ["ShardStore"]

log = logging.getLogger("mirrorkit.store")

SHARDS_DIR = ".mirrorkit/shards"


class ShardStore:
    """One worker's view of the shared bucket."""

    def __init__(self, client: Any, bucket: S3Target, spec: ShardSpec, *, lease: float,
                 concurrency: int) -> None:
        self.client = client
        self.bucket = bucket
        self.spec = spec
        self.lease = lease
        self.concurrency = concurrency
        #: the worker's own lock; the bucket's lock too while this worker commits
        self.locks: list[S3Lock] = []
        #: the lock of a killed worker of this index was taken over: files it stored may
        #: be in the bucket already, asked for before each download
        self.resuming = False

    # ------------------------------------------------------------------ locks
    @contextmanager
    def hold(self, command: str) -> Iterator[None]:
        """This worker's lock, refused while an unsharded run holds the bucket's."""
        S3Lock(self.client, self.bucket, command, lease=self.lease).refuse_if_held()
        lock = S3Lock(self.client, self.bucket, f"{command} (shard {self.spec})",
                      lease=self.lease, key=f"{SHARDS_DIR}/{self.spec.index}.lock")
        with lock:
            self.resuming = lock.lease.took_over is not None
            self.locks.append(lock)
            try:
                yield
            finally:
                self.locks.remove(lock)

    @contextmanager
    def commit_lock(self, command: str) -> Iterator[bool]:
        """The bucket's lock for the commit: True when this worker got it (and commits),
        False when another process holds it (another worker commits)."""
        lock = S3Lock(self.client, self.bucket, f"{command} (shard {self.spec}, commit)",
                      lease=self.lease)
        try:
            lock.__enter__()
        except S3Locked as exc:
            log.info("another process commits: %s", exc)
            yield False
            return
        self.locks.append(lock)
        try:
            yield True
        finally:
            self.locks.remove(lock)
            try:
                lock.__exit__(None, None, None)
            except LeaseLost as exc:
                raise TargetFailed(f"commit stopped: {exc}") from None

    def check(self) -> None:
        """Before a write: stop once a lock this worker holds was taken over."""
        for lock in self.locks:
            lock.check()

    # ---------------------------------------------------------------- uploads
    def upload(self, batch: list[Pending], staging_dest: Path) -> list[OSError | None]:
        """Store new verified blobs at their final keys (nothing names them yet)."""
        self.check()

        def one(item: Pending) -> OSError | None:
            try:
                if item.body is not None:
                    write_chunks(item.tmp, item.body)
                self.client.upload_file(
                    str(item.tmp), self.bucket.bucket, self.bucket.key(item.path),
                    ExtraArgs={"ContentType": content_type(item.path, {}),
                               "Metadata": {"sha256": item.entry.sha256}})
                item.tmp.unlink(missing_ok=True)  # stored: only files in flight stay local
                return None
            except OSError as exc:
                return exc
            except Exception as exc:
                return OSError(f"{self.bucket}/{item.path}: upload failed: {describe(exc)}")

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batch))) as pool:
            return list(pool.map(one, batch))

    def stored(self, path: str) -> FileEntry | None:
        """What the bucket holds at ``path``, from its size and recorded sha256 (None when
        nothing, or nothing that says its sha256)."""
        try:
            head = self.client.head_object(Bucket=self.bucket.bucket, Key=self.bucket.key(path))
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise S3Error(f"{self.bucket}/{path}: cannot look it up: {describe(exc)}") from None
        sha = (head.get("Metadata") or {}).get("sha256")
        size = head.get("ContentLength")
        if not isinstance(sha, str) or len(sha) != 64 or not isinstance(size, int):
            return None
        return FileEntry(size=size, sha256=sha)

    # ---------------------------------------------------------------- records
    def _record_key(self, base: str, index: int) -> str:
        return self.bucket.key(f"{SHARDS_DIR}/{base}/{index}.json")

    def write_record(self, record: ShardRecord) -> None:
        self.check()
        try:
            self.client.put_object(Bucket=self.bucket.bucket,
                                   Key=self._record_key(record.base, record.index),
                                   Body=record.dumps(), ContentType="application/json")
        except Exception as exc:
            raise S3Error(f"{self.bucket}: cannot write the record of shard {self.spec}: "
                          f"{describe(exc)}") from None

    def records(self, base: str) -> dict[int, ShardRecord]:
        """The records of the run from ``base`` with this run's worker count, by index."""
        prefix = self.bucket.key(f"{SHARDS_DIR}/{base}/")
        found: dict[int, ShardRecord] = {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket.bucket, Prefix=prefix)
            keys = [obj["Key"] for page in pages for obj in page.get("Contents", ())]
            for key in keys:
                name = key[len(prefix):]
                if not name.endswith(".json") or not name[:-5].isdigit():
                    continue
                body = self.client.get_object(Bucket=self.bucket.bucket, Key=key)["Body"].read()
                try:
                    record = ShardRecord.loads(body, f"s3://{self.bucket.bucket}/{key}")
                except ShardError as exc:
                    log.warning("%s; that shard's files are downloaded again", exc)
                    continue
                if record.count == self.spec.count and record.base == base:
                    found[record.index] = record
        except Exception as exc:
            raise S3Error(f"{self.bucket}: cannot read the shard records: "
                          f"{describe(exc)}") from None
        return found

    def drop_records(self, base: str) -> None:
        """After the commit: the records of that run are done with."""
        prefix = self.bucket.key(f"{SHARDS_DIR}/{base}/")
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket.bucket, Prefix=prefix)
            keys = [obj["Key"] for page in pages for obj in page.get("Contents", ())]
            for start in range(0, len(keys), 1000):
                self.client.delete_objects(Bucket=self.bucket.bucket, Delete={
                    "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})
        except Exception as exc:  # leftover records cost a little storage, nothing else
            log.warning("%s: the shard records of %s stay: %s", self.bucket, base,
                        describe(exc))
