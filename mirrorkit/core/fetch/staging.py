"""Staging inside the mirror's filesystem, so a commit is a single ``rename``.

Files are downloaded under ``<dest>/.mirrorkit/tmp/<run_id>/`` (never under a final name) and
renamed into place; whatever a killed run left there is removed by the next one, under the lock.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

from ..fileops import set_mtime, write_chunks
from ..store.manifest import state_dir
from ..store.safefs import SafeTree

__all__ = ["Staging", "clean_stale_staging", "remove_with_empty_parents"]

TMP_DIR = "tmp"


def clean_stale_staging(dest: Path) -> int:
    """Remove every staging directory and half-written state file (hold the mirror lock)."""
    count = 0
    state = state_dir(dest)
    # half-written manifests and heads (atomic_write_bytes)
    for sub in (state, state / "snapshots", state / "snapshots" / "heads"):
        for stale in sub.glob(".*.tmp") if sub.is_dir() else ():
            stale.unlink(missing_ok=True)
            count += 1
    root = state / TMP_DIR
    if not root.is_dir():
        return count
    for child in root.iterdir():
        count += sum(1 for _ in child.rglob("*")) if child.is_dir() else 1
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    return count


class Staging:
    def __init__(self, dest: Path, run_id: str) -> None:
        self.dest = dest
        self.dir = state_dir(dest) / TMP_DIR / run_id
        self.tree = SafeTree(dest)
        self._names = itertools.count()

    def create(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    def new_path(self) -> Path:
        return self.dir / f"{next(self._names)}.part"

    def commit(self, tmp: Path, relpath: str, mtime: float | None = None,
               body: tuple[bytes, ...] | None = None) -> None:
        """Rename a verified file into place (never through a symlink inside the mirror).

        ``body``: the verified bytes, still to be written to ``tmp`` first.
        """
        if body is not None:
            write_chunks(tmp, body)
        set_mtime(tmp, mtime)
        self.tree.replace(tmp, relpath)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def remove_with_empty_parents(dest: Path, relpath: str, tree: SafeTree | None = None) -> bool:
    """Unlink a committed file and prune the directories it leaves empty.

    Refuses (:class:`~.store.safefs.UnsafeDestination`) a path under a symlink.
    """
    return (tree or SafeTree(dest)).unlink(relpath)
