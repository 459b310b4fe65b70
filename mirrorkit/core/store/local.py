"""The local store: a mirror directory, written by renames from staging in the same filesystem.

Each file appears whole (``rename`` is atomic), under a parent checked not to be a symlink
(:mod:`.safefs`); the manifest is replaced atomically. ``preflight`` looks at the tree
before the first write, so a changeset that could only half-apply (a directory or a file
where a new path needs the name, a symlinked directory) is refused with nothing changed.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat

from ..fetch.staging import Staging
from .changeset import Changeset, Link, Put, ancestors
from .manifest import Manifest

__all__ = ["LocalStore", "StoreRefused"]

log = logging.getLogger("mirrorkit.store")

MAX_REPORTED = 50


class StoreRefused(Exception):
    """The changeset cannot be applied to this tree; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if len(problems) == 1 else "\n".join(problems))
        self.problems = problems


class LocalStore:
    def __init__(self, staging: Staging, *, keep_snapshots: int = 8) -> None:
        self.staging = staging
        self.dest = staging.dest
        self.tree = staging.tree
        self.keep_snapshots = keep_snapshots
        self._written: set[str] = set()

    def describe(self) -> str:
        return str(self.dest)

    def preflight(self, changes: Changeset) -> None:
        """Refuse, before anything is written, a changeset the tree would stop half-way."""
        problems: list[str] = []
        clearing = set(changes.clear_first)
        cleared_dirs = {a for p in clearing for a in ancestors(p)}
        for path in sorted({*(p.path for p in changes.puts), *(lk.path for lk in changes.links),
                            *changes.deletes, *clearing}):
            try:
                st = self.tree.lstat(path)
            except OSError as exc:
                if not self._under_cleared(path, clearing):
                    problems.append(str(exc.strerror or exc))
                continue
            if (st is not None and stat.S_ISDIR(st.st_mode) and path not in cleared_dirs
                    and path not in clearing):
                problems.append(f"{os.path.join(self.dest, path)}: a directory is where the "
                                "snapshot puts a file")
            if len(problems) >= MAX_REPORTED:
                break
        if problems:
            raise StoreRefused(problems)

    @staticmethod
    def _under_cleared(path: str, clearing: set[str]) -> bool:
        """A parent that is a file about to be removed first is no obstacle."""
        return any(a in clearing for a in ancestors(path))

    def put_many(self, puts: list[Put]) -> None:
        for put in puts:
            self.staging.commit(put.source, put.path, put.mtime)
            self._written.add(put.path)

    def link(self, links: list[Link]) -> None:
        for lk in links:
            final = self.tree.parent_of(lk.path, create=False)
            target = self.tree.parent_of(lk.target, create=False)
            assert target is not None, lk.target
            if lk.target not in self._written and final is not None and _same_file(final,
                                                                                   target):
                continue
            tmp = self.staging.new_path()
            try:
                os.link(target, tmp, follow_symlinks=False)
            except OSError as exc:  # a filesystem without hard links: copy instead
                log.warning("cannot hard-link %s (%s); copying", lk.path, exc.strerror)
                shutil.copy2(target, tmp, follow_symlinks=False)
            self.staging.commit(tmp, lk.path)
            self._written.add(lk.path)

    def delete_many(self, paths: list[str]) -> int:
        return sum(1 for p in paths if self.tree.unlink(p))

    def publish(self, manifest: Manifest) -> None:
        manifest.save(self.dest, keep_snapshots=self.keep_snapshots)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

