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
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from ..fetch.staging import Staging, clean_stale_staging
from .apply import apply_changeset
from .changeset import Changeset
from .local import LocalStore, StoreRefused
from .lock import MirrorLock
from .manifest import FileEntry, Manifest, load_manifest, state_dir
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
    #: the local tree whose files the run checks on disk and puts new blobs into as they
    #: verify; None when files can only be committed with the changeset (a bucket)
    tree: str | None = None

    @abc.abstractmethod
    def hold(self, command: str, wait: float) -> AbstractContextManager[None]:
        """The target's lock for one run, with a killed run's leftovers cleaned up."""

    @abc.abstractmethod
    async def load_previous(self, mirror: str) -> Manifest | None:
        """The snapshot this run starts from, or None for a new mirror."""

    @abc.abstractmethod
    def staging(self, run_id: str) -> Staging:
        """Where verified files wait for the commit (created)."""

    @abc.abstractmethod
    def work_dir(self) -> Path:
        """The plugin's work directory for this run (created)."""

    @abc.abstractmethod
    async def read_kept(self, path: str, staging: Staging) -> Path:
        """A local file holding the bytes of ``path`` as the previous snapshot has it."""

    @abc.abstractmethod
    async def commit(self, changes: Changeset, staging: Staging, keep_snapshots: int) -> int:
        """Apply ``changes`` in the commit order; returns the paths removed.
        Raises :class:`CommitFailed`."""

    @abc.abstractmethod
    def record_failed_run(self, previous: Manifest | None, committed: dict[str, FileEntry],
                          mirror: str, registry: str) -> None:
        """A run that did not commit: remember the blobs it put in place early."""

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

    @contextmanager
    def hold(self, command: str, wait: float) -> Iterator[None]:
        self.dest.mkdir(parents=True, exist_ok=True)
        with MirrorLock(self.dest, command, wait=wait):
            cleaned = clean_stale_staging(self.dest)
            if cleaned:
                log.info(
                    "removed %d temporary files left by an interrupted run", cleaned)
            yield

    async def load_previous(self, mirror: str) -> Manifest | None:
        return load_manifest(self.dest)

    def staging(self, run_id: str) -> Staging:
        staging = Staging(self.dest, run_id)
        staging.create()
        return staging

    def work_dir(self) -> Path:
        work = state_dir(self.dest) / "work"
        work.mkdir(parents=True, exist_ok=True)
        return work

    async def read_kept(self, path: str, staging: Staging) -> Path:
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

    def record_failed_run(self, previous: Manifest | None, committed: dict[str, FileEntry],
                          mirror: str, registry: str) -> None:
        if not committed:
            return
        if previous is not None:
            files = dict(previous.files)
            files.update(committed)
            # the current manifest only: the snapshot's own copy must keep naming exactly
            # what that snapshot held, or a bundle delta from it would skip these files
            Manifest(mirror=previous.mirror, snapshot=previous.snapshot,
                     registry=previous.registry, created=previous.created,
                     files=files).save(self.dest, keep_snapshots=0)
        else:
            Manifest(mirror=mirror, registry=registry, snapshot=None,
                     files=dict(committed)).save(self.dest)

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

    async def load_previous(self, mirror: str) -> Manifest | None:
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

    async def commit(self, changes: Changeset, staging: Staging, keep_snapshots: int) -> int:
        raise AssertionError("a dry run commits nothing")

    def record_failed_run(self, previous: Manifest | None, committed: dict[str, FileEntry],
                          mirror: str, registry: str) -> None:
        return  # a dry run puts nothing in place

    def roll_back(self, staging: Staging, committed: dict[str, FileEntry]) -> None:
        return

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)
        self.inner.close()

