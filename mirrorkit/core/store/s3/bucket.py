"""A run whose dest is ``s3://bucket/prefix``: the mirror lives in the bucket, not on disk.

Downloads are staged in a scratch directory and uploaded at the commit, in the same order as
every other commit (:class:`.store.S3Store`); the previous snapshot is the bucket's state
object (``.mirrorkit/published.json``, kept with every field a run needs: etags for
conditional index requests, grace times). One writer at a time: :class:`.store.S3Lock`, held
under a lease (``lock_lease``): a run whose lock was taken over writes nothing more. A file
kept from the previous snapshot that a plugin needs to read is downloaded then.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio.to_thread

from ...fetch.early_commit import Pending
from ...fetch.staging import Staging
from ...run.shards import ShardSpec
from ..apply import apply_changeset
from ..changeset import Changeset
from ..lock import MirrorLocked
from ..manifest import STATE_DIR, STATE_FILES_DIR, FileEntry, Manifest, ManifestError, StateRef
from ..previous import PreviousSnapshot
from ..target import CommitFailed, Target, TargetFailed
from .client import S3Error, describe, is_not_found, make_client
from .shard_store import ShardStore
from .state import load_published, save_published
from .store import LeaseLost, S3Lock, S3Locked, S3Store
from .target import S3Target
from .upload import UploadSettings

__all__ = ["BucketTarget"]

log = logging.getLogger("mirrorkit.store")


class BucketTarget(Target):
    def __init__(self, url: str, concurrency: int, *, lease: float,
                 shard: ShardSpec | None = None) -> None:
        self.bucket = S3Target.parse(url)
        self.where = url
        self.concurrency = concurrency
        self.client = make_client(concurrency)
        self._lease = lease
        self._lock: S3Lock | None = None
        #: a worker of a sharded run: its new blobs are stored as they verify
        self.shards = (ShardStore(self.client, self.bucket, shard, lease=lease,
                                  concurrency=concurrency) if shard is not None else None)
        # each file stored as soon as it verifies, side by side: a killed worker loses at
        # most the files it had in flight
        self.early_store = self.shards is not None
        self.early_batch = 1
        self.early_threads = max(1, min(concurrency, 32))
        self._scratch = Path(tempfile.mkdtemp(prefix="mirrorkit-s3-"))

    @contextmanager
    def hold(self, command: str, wait: float) -> Iterator[None]:
        try:
            if self.shards is not None:
                with self.shards.hold(command):
                    yield
                return
            with S3Lock(self.client, self.bucket, command, lease=self._lease) as lock:
                self._lock = lock
                yield
        except S3Locked as exc:
            raise MirrorLocked(str(exc)) from None
        except LeaseLost as exc:
            raise TargetFailed(f"commit stopped: {exc}") from None
        except S3Error as exc:
            raise TargetFailed(str(exc)) from None
        finally:
            self._lock = None

    def _check_lease(self) -> None:
        """Before a write: stop once another writer has taken a lock of ours over."""
        if self._lock is not None:
            self._lock.check()
        if self.shards is not None:
            self.shards.check()

    def commit_early(self, batch: list[Pending], staging: Staging) -> list[OSError | None]:
        assert self.shards is not None
        return self.shards.upload(batch, staging.dest)

    def early_readable(self, item: Pending, staging: Staging) -> Path | None:
        """A stored file's local copy is gone (a worker keeps only the files in flight on
        its disk): it is read back from the bucket if a plugin asks for it."""
        return None

    async def stored(self, path: str) -> FileEntry | None:
        """What the bucket holds at ``path`` (a resumed worker's files), by its metadata."""
        assert self.shards is not None
        return await anyio.to_thread.run_sync(self.shards.stored, path)

    async def load_previous(self, mirror: str) -> PreviousSnapshot | None:
        return PreviousSnapshot.of(await anyio.to_thread.run_sync(self._load_state, mirror))

    def _load_state(self, mirror: str) -> Manifest | None:
        try:
            state = load_published(self.client, self.bucket)
        except S3Error as exc:
            raise ManifestError(str(exc)) from None
        if state is not None and state.mirror and state.mirror != mirror:
            raise ManifestError(f"{self.bucket} holds the mirror {state.mirror!r}, not "
                                f"{mirror!r}: give each mirror its own prefix")
        return state

    def staging(self, run_id: str) -> Staging:
        tree = self._scratch / "tree"
        tree.mkdir(exist_ok=True)
        staging = Staging(tree, run_id)
        staging.create()
        return staging

    def work_dir(self) -> Path:
        work = self._scratch / "work"
        work.mkdir(exist_ok=True)
        return work

    async def read_kept(self, path: str, staging: Staging) -> Path:
        tmp = staging.new_path()
        await anyio.to_thread.run_sync(self._download, path, tmp)
        return tmp

    def read_kept_now(self, path: str, staging: Staging) -> Path:
        tmp = staging.new_path()
        self._download(path, tmp)
        return tmp

    def _download(self, path: str, to: Path) -> None:
        self._download_key(self.bucket.key(path), to)

    def _download_key(self, key: str, to: Path) -> None:
        try:
            self.client.download_file(self.bucket.bucket, key, str(to))
        except Exception as exc:
            if is_not_found(exc):
                raise FileNotFoundError(f"s3://{self.bucket.bucket}/{key}") from None
            raise OSError(f"s3://{self.bucket.bucket}/{key}: cannot read it back: "
                          f"{describe(exc)}") from None

    async def commit(self, changes: Changeset, staging: Staging, keep_snapshots: int) -> int:
        store = S3Store(self.client, self.bucket,
                        UploadSettings(concurrency=self.concurrency, rehash=False),
                        log, full_state=True, lock=self._lock)
        if self.shards is not None:
            store.check = self._check_lease
            store.uploader.check = self._check_lease
        try:
            return await anyio.to_thread.run_sync(apply_changeset, changes, store)
        except LeaseLost as exc:
            raise CommitFailed(f"commit stopped: {exc}", refused=False) from None
        except S3Error as exc:
            raise CommitFailed(f"commit failed: {exc}; the bucket still serves the previous "
                               "snapshot and the next run completes it", refused=False) from None

    async def read_state(self, sha256: str, staging: Staging) -> Path | None:
        tmp = staging.new_path()
        try:
            await anyio.to_thread.run_sync(self._download_key, self._state_key(sha256), tmp)
        except FileNotFoundError:
            return None
        return tmp

    def _state_key(self, sha256: str) -> str:
        return self.bucket.key(f"{STATE_DIR}/{STATE_FILES_DIR}/{sha256}")

    async def store_state(self, files: dict[str, Path]) -> None:
        await anyio.to_thread.run_sync(self._upload_state, files)

    def _upload_state(self, files: dict[str, Path]) -> None:
        for sha, path in files.items():
            self._check_lease()
            try:
                self.client.upload_file(str(path), self.bucket.bucket, self._state_key(sha))
            except Exception as exc:
                raise S3Error(f"{self.bucket}: cannot store a state file: "
                              f"{describe(exc)}") from None

    async def drop_unused_state(self, manifest: Manifest) -> None:
        await anyio.to_thread.run_sync(self._drop_unused_state, manifest)

    def _drop_unused_state(self, manifest: Manifest) -> None:
        used = {ref.sha256 for ref in manifest.state.values()}
        prefix = self.bucket.key(f"{STATE_DIR}/{STATE_FILES_DIR}/")
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket.bucket, Prefix=prefix)
            stale = [obj["Key"] for page in pages for obj in page.get("Contents", ())
                     if obj["Key"][len(prefix):] not in used]
            for start in range(0, len(stale), 1000):
                self.client.delete_objects(Bucket=self.bucket.bucket, Delete={
                    "Objects": [{"Key": k} for k in stale[start:start + 1000]],
                    "Quiet": True})
        except Exception as exc:  # unused state costs storage, never correctness
            log.warning("%s: unused state files stay: %s", self.bucket, describe(exc))

    def record_without_commit(self, previous: Manifest | None, committed: dict[str, FileEntry],
                          state: dict[str, StateRef], mirror: str, registry: str) -> None:
        """Nothing reached the bucket before the commit; only new state is recorded."""
        if state == (previous.state if previous is not None else {}):
            return
        base = previous or Manifest(mirror=mirror, registry=registry)
        try:
            self._check_lease()
            save_published(self.client, self.bucket, Manifest(
                mirror=base.mirror, snapshot=base.snapshot, registry=base.registry,
                created=base.created, files=base.files, state=state))
        except S3Error as exc:
            log.warning("%s: the state of this run is not saved: %s", self.bucket, exc)

    def roll_back(self, staging: Staging, committed: dict[str, FileEntry]) -> None:
        return

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)
