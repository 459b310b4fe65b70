"""Where a run's snapshot lives: a local tree, or (in :mod:`.s3.bucket`) a bucket.

A run does the same steps whatever its destination: take the target's lock, load the previous
snapshot, stage verified files, then commit one changeset (or, when something failed, record
what it did put in place). What differs is behind this interface: where staging lives, how
a kept file is read back, whether files can be checked and put in place during the run, and
which :class:`~.base.Store` applies the changeset. A dry run wraps the real target
(:class:`DryTarget`): it reads the previous snapshot and kept files from it, and never
writes to it.
"""

from __future__ import annotations

import abc
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from ..fetch.early_commit import Pending
from ..fetch.staging import Staging, clean_stale_staging
from .apply import apply_changeset
from .changeset import Changeset
from .local import LocalStore, StoreRefused
from .lock import MirrorLock
from .manifest import (
    SNAPSHOTS_DIR,
    STATE_FILES_DIR,
    FileEntry,
    Manifest,
    ManifestError,
    StateRef,
    load_head,
    load_manifest,
    state_dir,
)
from .previous import PreviousSnapshot
from .safefs import UnsafeDestination

__all__ = ["CommitFailed", "DryTarget", "LocalTarget", "Target", "TargetFailed"]

log = logging.getLogger("mirrorkit.engine")


class TargetFailed(Exception):
    """The target could not be used or read during the run (one line, the run fails)."""


class CommitFailed(Exception):
    """The changeset could not be applied; ``refused``: nothing was written (the run takes
    back what it put in place early), else the next run completes the commit."""

    def __init__(self, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


class Target(abc.ABC):
    #: where the mirror is, for messages (a directory or ``s3://bucket/prefix``)
    where: str
    #: the local tree whose files the run checks on disk; None for a bucket
    tree: str | None = None
    #: whether a verified blob at a path nothing names yet goes to the target during the
    #: run (:meth:`commit_early`), or waits for the changeset; in batches of how many files,
    #: on how many threads at once
    early_store: bool = False
    early_batch: int = 32
    early_threads: int = 1

    @abc.abstractmethod
    def hold(self, command: str, wait: float) -> AbstractContextManager[None]:
        """The target's lock for one run, with a killed run's leftovers cleaned up."""

    @abc.abstractmethod
    async def load_previous(self, mirror: str) -> PreviousSnapshot | None:
        """The snapshot this run starts from, or None for a new mirror."""

    @abc.abstractmethod
    def staging(self, run_id: str) -> Staging:
        """Where verified files wait for the commit (created)."""

    @abc.abstractmethod
    def work_dir(self) -> Path:
        """The plugin's work directory for this run (created)."""

    def commit_early(self, batch: list[Pending], staging: Staging) -> list[OSError | None]:
        """Put a batch of new verified blobs in place (on a worker thread); per file, the
        error that stopped it or None. Only for a target whose ``early_store`` is set."""
        raise NotImplementedError

    def early_readable(self, item: Pending, staging: Staging) -> Path | None:
        """Where a blob put in place early is read from afterwards; None: from the target,
        when asked (:meth:`read_kept`)."""
        return item.tmp

    @abc.abstractmethod
    async def read_kept(self, path: str, staging: Staging) -> Path:
        """A local file holding the bytes of ``path`` as the previous snapshot has it."""

    def read_kept_now(self, path: str, staging: Staging) -> Path:
        """:meth:`read_kept` for a caller that cannot wait (it blocks while it reads)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def commit(self, changes: Changeset, staging: Staging, keep_snapshots: int) -> int:
        """Apply ``changes`` in the commit order; returns the paths removed.
        Raises :class:`CommitFailed`."""

    @abc.abstractmethod
    async def read_state(self, sha256: str, staging: Staging) -> Path | None:
        """A local file holding the state file stored as ``sha256`` (None: it is gone)."""

    @abc.abstractmethod
    async def store_state(self, files: dict[str, Path]) -> None:
        """Store new state files by sha256, before a manifest names them."""

    @abc.abstractmethod
    async def drop_unused_state(self, manifest: Manifest) -> None:
        """Remove stored state files no kept manifest names (after ``manifest`` is saved)."""

    @abc.abstractmethod
    def record_without_commit(self, previous: Manifest | None, committed: dict[str, FileEntry],
                          state: dict[str, StateRef], mirror: str, registry: str) -> None:
        """A run that committed no new snapshot (it failed, or kept the previous one):
        remember the blobs it put in place early, and ``state``, the state refs the
        manifest names from now on."""

    @abc.abstractmethod
    def roll_back(self, staging: Staging, committed: dict[str, FileEntry]) -> None:
        """A refused run: remove the blobs it put in place early (nothing names them)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Remove whatever the target made for this run alone."""


class LocalTarget(Target):
    """A mirror directory: staging under ``.mirrorkit/tmp`` (so a commit is one rename),
    the run's ``flock``, and new blobs renamed into place as soon as they verify."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.where = str(dest)
        self.tree = str(dest)
        self.early_store = True

    @contextmanager
    def hold(self, command: str, wait: float) -> Iterator[None]:
        self.dest.mkdir(parents=True, exist_ok=True)
        with MirrorLock(self.dest, command, wait=wait):
            cleaned = clean_stale_staging(self.dest)
            if cleaned:
                log.info(
                    "removed %d temporary files left by an interrupted run", cleaned)
            yield

    async def load_previous(self, mirror: str) -> PreviousSnapshot | None:
        head = load_head(self.dest)
        if head is None:  # an older mirror, or a damaged head: the whole manifest now
            return PreviousSnapshot.of(load_manifest(self.dest))
        return PreviousSnapshot(head, self._whole_manifest)

    def _whole_manifest(self) -> Manifest:
        manifest = load_manifest(self.dest)
        if manifest is None:
            raise ManifestError(f"{self.dest}: the manifest went away during the run")
        return manifest

    def staging(self, run_id: str) -> Staging:
        staging = Staging(self.dest, run_id)
        staging.create()
        return staging

    def work_dir(self) -> Path:
        work = state_dir(self.dest) / "work"
        work.mkdir(parents=True, exist_ok=True)
        return work

    def commit_early(self, batch: list[Pending], staging: Staging) -> list[OSError | None]:
        errors: list[OSError | None] = []
        for item in batch:
            try:
                staging.commit(item.tmp, item.path, item.mtime, item.body)
                errors.append(None)
            except OSError as exc:
                errors.append(exc)
        return errors

    def early_readable(self, item: Pending, staging: Staging) -> Path:
        return self.dest / item.path

    async def read_kept(self, path: str, staging: Staging) -> Path:
        return self.dest / path

    def read_kept_now(self, path: str, staging: Staging) -> Path:
        return self.dest / path

    async def commit(self, changes: Changeset, staging: Staging, keep_snapshots: int) -> int:
        try:
            return apply_changeset(changes, LocalStore(staging, keep_snapshots=keep_snapshots))
        except (StoreRefused, UnsafeDestination) as exc:
            raise CommitFailed(f"commit refused: {exc}; the mirror is unchanged",
                               refused=True) from None
        except OSError as exc:  # the commit itself failed (disk full writing the manifest)
            raise CommitFailed(f"commit failed: {exc.strerror or exc} "
                               f"({exc.filename or self.dest}); the next run completes it",
                               refused=False) from None

    async def read_state(self, sha256: str, staging: Staging) -> Path | None:
        path = state_dir(self.dest) / STATE_FILES_DIR / sha256
        return path if path.is_file() else None

    async def store_state(self, files: dict[str, Path]) -> None:
        if not files:
            return
        where = state_dir(self.dest) / STATE_FILES_DIR
        where.mkdir(parents=True, exist_ok=True)
        for sha, path in files.items():
            final = where / sha
            if final.exists():
                continue
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())  # on disk before the manifest that names it
            os.replace(path, final)

    async def drop_unused_state(self, manifest: Manifest) -> None:
        drop_unused_state_files(self.dest, manifest)

    def record_without_commit(self, previous: Manifest | None, committed: dict[str, FileEntry],
                          state: dict[str, StateRef], mirror: str, registry: str) -> None:
        if not committed and state == (previous.state if previous is not None else {}):
            return
        if previous is not None:
            files = dict(previous.files)
            files.update(committed)
            # the current manifest only: the snapshot's own copy must keep naming exactly
            # what that snapshot held, or a bundle delta from it would skip these files
            Manifest(mirror=previous.mirror, snapshot=previous.snapshot,
                     registry=previous.registry, created=previous.created,
                     files=files, state=state).save(self.dest, keep_snapshots=0)
        else:
            Manifest(mirror=mirror, registry=registry, snapshot=None,
                     files=dict(committed), state=state).save(self.dest)
        drop_unused_state_files(self.dest, None)

    def roll_back(self, staging: Staging, committed: dict[str, FileEntry]) -> None:
        for path in committed:
            staging.tree.unlink(path)

    def close(self) -> None:
        return  # the tree stays; staging is removed by the run


class DryTarget(Target):
    """``mirrorkit plan`` / ``--dry-run``: the real target's previous snapshot and kept
    files, a scratch directory for everything else, and no lock and no commit."""

    def __init__(self, inner: Target) -> None:
        self.inner = inner
        self.where = inner.where
        self.tree = inner.tree
        self._scratch = Path(tempfile.mkdtemp(prefix="mirrorkit-plan-"))

    def hold(self, command: str, wait: float) -> AbstractContextManager[None]:
        return nullcontext()

    async def load_previous(self, mirror: str) -> PreviousSnapshot | None:
        if isinstance(self.inner, LocalTarget) and not self.inner.dest.exists():
            return None
        return await self.inner.load_previous(mirror)

    def staging(self, run_id: str) -> Staging:
        staging = Staging(self._scratch, "dry")
        staging.dir = self._scratch / "staged"
        staging.create()
        return staging

    def work_dir(self) -> Path:
        work = self._scratch / "work"
        work.mkdir(parents=True, exist_ok=True)
        return work

    async def read_kept(self, path: str, staging: Staging) -> Path:
        return await self.inner.read_kept(path, staging)

    def read_kept_now(self, path: str, staging: Staging) -> Path:
        return self.inner.read_kept_now(path, staging)

    async def commit(self, changes: Changeset, staging: Staging, keep_snapshots: int) -> int:
        raise AssertionError("a dry run commits nothing")

    async def read_state(self, sha256: str, staging: Staging) -> Path | None:
        return await self.inner.read_state(sha256, staging)

    async def store_state(self, files: dict[str, Path]) -> None:
        raise AssertionError("a dry run saves no state")

    async def drop_unused_state(self, manifest: Manifest) -> None:
        raise AssertionError("a dry run saves no state")

    def record_without_commit(self, previous: Manifest | None, committed: dict[str, FileEntry],
                          state: dict[str, StateRef], mirror: str, registry: str) -> None:
        return  # a dry run puts nothing in place

    def roll_back(self, staging: Staging, committed: dict[str, FileEntry]) -> None:
        return

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)
        self.inner.close()



def drop_unused_state_files(dest: Path, current: Manifest | None) -> int:
    """Remove ``.mirrorkit/state`` files that neither the current manifest nor a kept
    snapshot's names (a bundle delta from that snapshot, or its import, may need them)."""
    where = state_dir(dest) / STATE_FILES_DIR
    if not where.is_dir():
        return 0
    try:
        current = current if current is not None else load_manifest(dest)
        used = {ref.sha256 for ref in current.state.values()} if current is not None else set()
        snaps = state_dir(dest) / SNAPSHOTS_DIR
        for path in sorted(snaps.glob("*.json")) if snaps.is_dir() else ():
            if current is not None and current.snapshot == path.stem:
                continue  # the copy Manifest.save just wrote of ``current``: not read again
            # a snapshot's head names its state; its whole manifest only when the head
            # is missing or not its own (400,000 entries per snapshot otherwise)
            kept = load_head(dest, snapshot=path.stem) or load_manifest(dest, snapshot=path.stem)
            used |= {ref.sha256 for ref in kept.state.values()} if kept is not None else set()
    except ManifestError:
        return 0  # never delete on a guess
    dropped = 0
    for path in where.iterdir():
        if path.name not in used:
            path.unlink(missing_ok=True)
            dropped += 1
    return dropped
