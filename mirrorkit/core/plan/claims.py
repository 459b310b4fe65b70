"""The plan as a path set: which artifact claimed each path, checked as it is claimed.

A path claimed twice by the same file is one file (a plugin may yield an index and also
``ctx.fetch`` it); claimed by two different files it is a plan error. A path that is both a
file and the parent of another file can never be mirrored, so it is refused when the second
of the two is claimed, before anything depends on it. Files of the previous snapshot the
plugin keeps without planning them (``ctx.keep_previous``) count as claimed too.
"""

from __future__ import annotations

from collections.abc import Callable

from ..store.changeset import PathConflict, ancestors, directories, path_conflict
from ..store.manifest import FileEntry
from .artifact import Artifact

__all__ = ["Claims", "PlanConflict", "entry_matches"]


class PlanConflict(ValueError):
    """Two artifacts of one plan claim the same path with different contents."""


def entry_matches(art: Artifact, entry: FileEntry) -> bool:
    """Whether a manifest entry is the file ``art`` plans (same size and digest)."""
    if art.size is not None and art.size != entry.size:
        return False
    if art.digest is None:
        return art.immutable
    if art.digest.algorithm == "sha256":
        return art.digest.hex == entry.sha256
    return entry.digest == str(art.digest)


class Claims:
    """Every path of the plan so far, and the directories they imply."""

    def __init__(self, where: str, on_planned: Callable[[Artifact], None]) -> None:
        self._where = where
        self._on_planned = on_planned
        self.planned: dict[str, Artifact] = {}
        self._dirs: set[str] = set()  # every parent directory of a planned path
        #: previous files the plugin kept without planning them (``ctx.keep_previous``)
        self.kept: dict[str, FileEntry] = {}

    def claim(self, art: Artifact) -> bool:
        """Record ``art`` in the plan; False when the same file was already planned."""
        other = self.planned.get(art.path)
        if other is None:
            if self.kept:
                return self._claim_beside_kept(art)
            return self._add(art, path_conflict(art.path, self.planned, self._dirs))
        same = (other.digest == art.digest and other.kind is art.kind
                and (other.digest is not None or other.origin == art.origin))
        if not same:
            raise PlanConflict(f"two artifacts claim {art.path}: {other.origin} and {art.origin}")
        return False

    def _claim_beside_kept(self, art: Artifact) -> bool:
        kept = self.kept.get(art.path)
        if kept is not None:
            if not entry_matches(art, kept):
                raise PlanConflict(f"two artifacts claim {art.path}: {art.origin} and the "
                                   "previous snapshot's file the plugin kept")
            return False
        conflict = path_conflict(art.path, self.planned, self._dirs)
        if conflict is None:
            parent = next((a for a in ancestors(art.path) if a in self.kept), None)
            if parent is not None:
                conflict = f"{parent} is both a file and the directory of {art.path}"
        return self._add(art, conflict)

    def _add(self, art: Artifact, conflict: str | None) -> bool:
        if conflict is not None:
            raise self.conflict(conflict)
        self.planned[art.path] = art
        self._on_planned(art)
        return True

    def add_kept(self, kept: dict[str, FileEntry], *, beside_plan: bool) -> None:
        """Previous files kept unplanned; ``beside_plan``: other files are planned too, so
        the two sets are checked against each other (the previous snapshot had no conflicts
        of its own)."""
        if beside_plan:
            self._check_beside_plan(kept)
        if self.kept:
            self.kept.update(kept)
        else:
            self.kept = kept

    def _check_beside_plan(self, kept: dict[str, FileEntry]) -> None:
        """Refuse kept files that are planned directories, or under a planned file."""
        dirs = directories(kept)
        if not self._dirs.isdisjoint(kept):
            clash = min(p for p in kept if p in self._dirs)
            conflict = f"{clash} is both a file and the directory of other files"
        else:
            parent = next((d for d in dirs if d in self.planned), None)
            if parent is None:
                self._dirs |= dirs
                return
            child = min(p for p in kept if p.startswith(f"{parent}/"))
            conflict = f"{parent} is both a file and the directory of {child}"
        raise self.conflict(conflict)

    def conflict(self, conflict: str) -> PathConflict:
        return PathConflict(f"{self._where}: the plan cannot be mirrored: {conflict}; "
                            "nothing was changed")
