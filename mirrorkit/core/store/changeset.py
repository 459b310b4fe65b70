"""What a commit must do, computed once from the previous manifest and the new file set.

A run, a bundle import and an S3 publish all end the same way: some files are written, some
names become hard links, index files go in after every blob, some paths disappear, and a new
manifest describes the result. Which files fall in which group, and whether the new path set
is even possible on a filesystem, is decided here, as data, before a single byte is written;
:mod:`.apply` then carries the changeset out in the one order that keeps readers consistent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

from ..plan.artifact import Kind
from .manifest import FileEntry, Manifest

__all__ = [
    "Changeset",
    "Link",
    "PathConflict",
    "Put",
    "ancestors",
    "build_changeset",
    "check_path_set",
    "diff_files",
    "directories",
    "path_conflict",
]


class PathConflict(ValueError):
    """The new path set names one path both as a file and as a directory of another file."""


@dataclass(frozen=True, slots=True)
class Put:
    """One file to store under ``path``, whose verified bytes are at ``source``."""

    path: str
    entry: FileEntry
    source: Path
    mtime: float | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A second name (``path``) for the bytes of blob ``target`` of the same snapshot."""

    path: str
    target: str


@dataclass(slots=True)
class Changeset:
    """Everything one commit does, in groups the store applies in a fixed order.

    ``clear_first`` are deletions that must precede the writes because a new path needs the
    name they hold (a file becoming a directory, or a directory a file); the rest of the
    deletions (``deletes``) wait until the new indexes no longer name them. ``manifest`` is
    None when the store's manifest is to stay as it is.
    """

    blobs: list[Put] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    index_waves: list[list[Put]] = field(default_factory=list)
    clear_first: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    manifest: Manifest | None = None

    @property
    def puts(self) -> list[Put]:
        return [*self.blobs, *(p for wave in self.index_waves for p in wave)]

    @property
    def write_bytes(self) -> int:
        return sum(p.entry.size for p in self.puts)

    @property
    def empty(self) -> bool:
        return not (self.blobs or self.links or self.index_waves or self.clear_first
                    or self.deletes)


def ancestors(path: str) -> Iterable[str]:
    """``a/b/c`` -> ``a/b``, ``a``."""
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        yield path


def path_conflict(path: str, files: Mapping[str, object] | set[str],
                  dirs: set[str]) -> str | None:
    """The reason ``path`` cannot join a set of ``files`` whose parents are ``dirs``.

    Adds the parents of an accepted path to ``dirs``. A parent already in ``dirs`` was
    checked, with its own parents, when it got there, which makes the common case (a file
    in a known directory) two set lookups.
    """
    if path in dirs:
        return f"{path} is both a file and the directory of other files"
    cut = path.rfind("/")
    if cut < 0 or path[:cut] in dirs:
        return None
    for parent in ancestors(path):
        if parent in files:
            return f"{parent} is both a file and the directory of {path}"
    dirs.update(ancestors(path))
    return None


def directories(paths: Iterable[str]) -> set[str]:
    """Every parent directory of ``paths``.

    Walks up from each distinct directory once, not from each path: a manifest of 400,000
    files in a few directories costs one string search per file.
    """
    dirs: set[str] = set()
    for parent in {p[:p.rfind("/")] for p in paths if "/" in p}:
        while parent not in dirs:
            dirs.add(parent)
            cut = parent.rfind("/")
            if cut < 0:
                break
            parent = parent[:cut]
    return dirs


def check_path_set(paths: Iterable[str], *, where: str, dirs: set[str] | None = None) -> None:
    """Raise :class:`PathConflict` (one line naming ``where``) if two paths cannot coexist.

    ``dirs``: the paths' :func:`directories`, when the caller has them already.
    """
    files = paths if isinstance(paths, Mapping | set | frozenset) else set(paths)
    clash = [d for d in (directories(files) if dirs is None else dirs) if d in files]
    if clash:  # name the first parent in sorted order, and the first file under it
        parent = min(clash)
        path = min(p for p in files if p.startswith(f"{parent}/"))
        raise PathConflict(f"{where}: {parent} is both a file and the directory of {path}")


def diff_files(new: Mapping[str, FileEntry], old: Mapping[str, FileEntry], *,
               force: bool = False) -> tuple[list[str], list[str]]:
    """Paths of ``new`` whose bytes (or kind) differ from ``old``, and paths gone from it."""
    changed = []
    for path in sorted(new):
        entry, prev = new[path], old.get(path)
        if (force or prev is None or prev.sha256 != entry.sha256 or prev.size != entry.size
                or prev.kind is not entry.kind):
            changed.append(path)
    return changed, sorted(p for p in old if p not in new)


def build_changeset(
    old: Mapping[str, FileEntry],
    manifest: Manifest,
    puts: Iterable[Put],
    *,
    links: Iterable[Link] = (),
    deletes: Iterable[str] | None = None,
    where: str,
) -> Changeset:
    """Group ``puts`` into blobs and index waves, and order the deletions around them.

    ``deletes`` defaults to every path of ``old`` the new manifest no longer names (callers
    that keep stale files for a grace period pass their own list). The new path set is
    checked first: a manifest naming ``x`` and ``x/y`` raises :class:`PathConflict`.
    """
    new_dirs = directories(manifest.files)
    check_path_set(manifest.files, where=where, dirs=new_dirs)
    blobs: list[Put] = []
    indexes: list[Put] = []
    for put in sorted(puts, key=lambda p: p.path):
        (indexes if put.entry.kind is Kind.INDEX else blobs).append(put)
    indexes.sort(key=lambda p: (p.entry.order, p.path))
    waves = [list(group) for _, group in groupby(indexes, key=lambda p: p.entry.order)]
    link_list = sorted(links, key=lambda lk: lk.path)
    gone = sorted(deletes if deletes is not None else (p for p in old if p not in manifest.files))
    # an old file in the way of a new one: it names a new directory, or lies under a new file
    first = [p for p in gone
             if p in new_dirs or any(a in manifest.files for a in ancestors(p))]
    first_set = set(first)
    return Changeset(
        blobs=blobs,
        links=link_list,
        index_waves=waves,
        clear_first=first,
        deletes=[p for p in gone if p not in first_set],
        manifest=manifest,
    )
