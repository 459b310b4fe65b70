"""A run whose dest is ``s3://bucket/prefix``: the mirror lives in the bucket, not on disk.

The engine runs as for a local tree, with three differences. Its "tree" is an empty
scratch directory (downloads are staged there, then uploaded; nothing is committed to it);
the previous snapshot is the state object of the bucket (``.mirrorkit/published.json``,
kept with every field a run needs: etags for conditional index requests, grace times);
and the commit applies the changeset through :class:`.store.S3Store` instead of renames,
in the same order as every other commit. One writer at a time: :class:`.store.S3Lock`,
held under a lease (``lock_lease``); a run whose lock was taken over stops writing.
A file kept from the previous snapshot that a plugin needs to read is downloaded then.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread

from ..lock import MirrorLocked
from ..manifest import Manifest, ManifestError, new_snapshot_id
from .client import S3Error, describe, make_client
from .state import load_published
from .store import LeaseLost, S3Lock, S3Locked, S3Store
from .target import S3Target
from .upload import UploadSettings

if TYPE_CHECKING:
    from ...run.engine import MirrorRun

__all__ = ["Remote"]

log = logging.getLogger("mirrorkit.store")


class Remote:
    """The bucket side of one run: client, target, state and the bytes of kept files."""

    def __init__(self, url: str, concurrency: int) -> None:
        self.target = S3Target.parse(url)
        self.concurrency = concurrency
        self.client = make_client(concurrency)

    def load_state(self, mirror: str) -> Manifest | None:
        try:
            state = load_published(self.client, self.target)
        except S3Error as exc:
            raise ManifestError(str(exc)) from None
        if state is not None and state.mirror and state.mirror != mirror:
            raise ManifestError(f"{self.target} holds the mirror {state.mirror!r}, not "
                                f"{mirror!r}: give each mirror its own prefix")
        return state

    def download(self, path: str, to: Path) -> None:
        """The stored bytes of a kept file (for a plugin that reads it)."""
        try:
            self.client.download_file(self.target.bucket, self.target.key(path), str(to))
        except Exception as exc:
            raise OSError(f"{self.target}/{path}: cannot read it back: {describe(exc)}") from None


async def run_into_bucket(run: MirrorRun, remote: Remote) -> None:
    """The locked part of a run into a bucket (the engine's ``_run_locked`` for S3)."""
    from ...fetch.staging import Staging
    from ...run.commit import commit_snapshot

    scratch = Path(tempfile.mkdtemp(prefix="mirrorkit-s3-"))
    run.dest = scratch / "tree"
    run.dest.mkdir()
    try:
        with S3Lock(remote.client, remote.target, run.command,
                    lease=run.settings.lock_lease) as lock:
            run.prev = await anyio.to_thread.run_sync(remote.load_state, run.mirror.name)
            run.prev_files = run.prev.files if run.prev else {}
            run.report.previous_snapshot = run.prev.snapshot if run.prev else None
            run_id = new_snapshot_id()
            run.staging = Staging(run.dest, run_id)
            run.staging.create()
            await run._plan_and_fetch(work_dir=scratch / "work")
            if run.plan_error or (run.failed and not run.settings.allow_partial):
                # nothing was stored: the bucket still serves the previous snapshot
                run.report.snapshot = run.prev.snapshot if run.prev else None
                run.report.files = len(run.prev_files)
                return
            store = S3Store(remote.client, remote.target,
                            UploadSettings(concurrency=remote.concurrency, rehash=False),
                            log, full_state=True, lock=lock)
            try:
                await anyio.to_thread.run_sync(commit_snapshot, run, run_id, store)
            except LeaseLost as exc:
                run._stop_run(f"commit stopped: {exc}")
            except S3Error as exc:
                run._stop_run(f"commit failed: {exc}; the bucket still serves the previous "
                              "snapshot and the next run completes it")
    except S3Locked as exc:
        raise MirrorLocked(str(exc)) from None
    except S3Error as exc:
        run._stop_run(str(exc))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
