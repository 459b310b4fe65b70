"""Writes, renames and deletes inside a mirror that never pass through a symbolic link.

Every path mirrorkit writes is validated (no ``..``, not absolute), but a directory of the
destination can itself be a symlink someone put there, pointing anywhere: a rename or
unlink under it would change files outside the mirror. So each parent directory of a path
is checked with ``lstat`` (a link is refused, never followed) before the first write under
it, and created as a real directory when missing. Directories already checked are
remembered for the life of the object (one run, one import), which keeps this to one
``lstat`` per directory, not per file; under a directory just made, the new ones below it
cost a ``mkdir`` alone (they cannot be links yet).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["SafeTree", "UnsafeDestination"]


class UnsafeDestination(OSError):
    """A path of the mirror goes through a symlink or a file: refused, nothing written there."""

    def __init__(self, message: str, filename: str) -> None:
        super().__init__(errno.ELOOP, message, filename)

    def __str__(self) -> str:
        return str(self.strerror)


class SafeTree:
    """The mirror root, and the directories under it known to be real directories."""

    def __init__(self, root: Path | str) -> None:
        self.root = os.path.abspath(root)
        self._dirs: set[str] = set()

    def parent_of(self, relpath: str, *, create: bool) -> str | None:
        """The absolute path of ``relpath`` once every parent is a real directory.

        Missing parents are made when ``create`` is set, else None is returned (the path
        cannot exist). Raises :class:`UnsafeDestination` for a symlink or a non-directory.
        """
        cut = relpath.rfind("/")
        if cut > 0 and relpath[:cut] not in self._dirs:
            cur = ""
            made = False  # a parent was just made: the parts under it cannot exist yet
            for part in relpath[:cut].split("/"):
                cur = f"{cur}/{part}" if cur else part
                if cur in self._dirs:
                    continue
                full = os.path.join(self.root, cur)
                if made:  # one call, not an lstat then a mkdir
                    try:
                        os.mkdir(full)
                        self._dirs.add(cur)
                        continue
                    except FileExistsError:
                        pass  # made meanwhile by someone else: checked below
                try:
                    st = os.lstat(full)
                except FileNotFoundError:
                    if not create:
                        return None
                    os.mkdir(full)
                    self._dirs.add(cur)
                    made = True
                    continue
                if stat.S_ISLNK(st.st_mode):
                    raise UnsafeDestination(
                        f"{full} is a symbolic link; mirrorkit does not write through links "
                        f"inside the mirror (needed for {relpath}): replace it with a directory",
                        full)
                if not stat.S_ISDIR(st.st_mode):
                    raise UnsafeDestination(
                        f"{full} is not a directory, but {relpath} goes under it", full)
                self._dirs.add(cur)
        return os.path.join(self.root, relpath)

    def check_parents(self, relpath: str) -> None:
        """Refuse a path under a symlink or a file (missing parents are fine)."""
        self.parent_of(relpath, create=False)

    def replace(self, src: Path | str, relpath: str) -> None:
        """Rename ``src`` to ``relpath`` (a symlink at the final name is replaced, not followed)."""
        final = self.parent_of(relpath, create=True)
        assert final is not None
        try:
            os.replace(src, final)
        except IsADirectoryError:
            raise OSError(errno.EISDIR, f"cannot commit {relpath}: a directory is in the way",
                          final) from None

    def unlink(self, relpath: str) -> bool:
        """Remove a file and the directories it leaves empty; False when it was not there."""
        full = self.parent_of(relpath, create=False)
        if full is None:
            return False
        try:
            os.unlink(full)
            removed = True
        except FileNotFoundError:
            removed = False
        rel = relpath
        while "/" in rel:
            rel = rel.rsplit("/", 1)[0]
            try:
                os.rmdir(os.path.join(self.root, rel))
            except OSError:
                break
            self._dirs.discard(rel)
        return removed

    def lstat(self, relpath: str) -> os.stat_result | None:
        """``lstat`` of a path whose parents are checked; None when it does not exist."""
        full = self.parent_of(relpath, create=False)
        if full is None:
            return None
        try:
            return os.lstat(full)
        except FileNotFoundError:
            return None
