"""What a whole-subdir mirror holds of each subdir, so an unchanged one is kept, not parsed.

The previous snapshot's manifest is the package list of a subdir whose ``repodata.json``
did not change: its packages are the files under ``<subdir>/``. What the manifest cannot
say is whether it holds *all* of them (a package that failed under ``--allow-partial`` is
not there), so the plugin keeps, in plugin state, the sha256 of the ``repodata.json`` each
subdir was last planned from and how many packages it named. A subdir whose repodata has
that sha256 and whose packages in the snapshot are that many is kept whole with
``ctx.keep_previous(paths)``; any other is parsed again.
"""

from __future__ import annotations

from collections.abc import Iterable

from mirrorkit.api import PlanContext, PreviousSnapshot

from .repodata import SECTIONS

__all__ = ["PlannedSubdirs", "forget_counts", "previous_packages"]

_STATE = "whole-subdirs.json"
_VERSION = 1
_SUFFIXES = tuple(SECTIONS.values())


class PlannedSubdirs:
    """For each subdir, the repodata sha256 it was planned from and its package count."""

    def __init__(self, ctx: PlanContext) -> None:
        self.ctx = ctx
        self.saved: dict[str, list[object]] = {}
        self.now: dict[str, list[object]] = {}

    async def load(self) -> None:
        saved = await self.ctx.state.read_json(_STATE, version=_VERSION)
        self.saved = saved if isinstance(saved, dict) else {}

    def holds_all(self, subdir: str, repodata_sha256: str, packages: list[str]) -> bool:
        """The snapshot holds every package the repodata with this sha256 names."""
        return self.saved.get(subdir) == [repodata_sha256, len(packages)]

    def planned(self, subdir: str, repodata_sha256: str, count: int) -> None:
        self.now[subdir] = [repodata_sha256, count]

    def save(self) -> None:
        if self.now != self.saved:
            self.ctx.state.write_json(_STATE, self.now, version=_VERSION)


def forget_counts(ctx: PlanContext) -> None:
    """A selective run of the same mirror holds other packages: drop the whole-subdir
    record, so a later whole-subdir run parses every subdir."""
    ctx.state.delete(_STATE)


def previous_packages(previous: PreviousSnapshot | None,
                      subdirs: Iterable[str]) -> dict[str, list[str]]:
    """The package files of each subdir in the previous snapshot, outside their prune
    grace (a file only kept for its grace is not planned any more)."""
    out: dict[str, list[str]] = {s: [] for s in subdirs}
    if previous is None:
        return out
    for path, entry in previous.files.items():
        subdir, _, name = path.partition("/")
        paths = out.get(subdir)
        if (paths is not None and entry.stale_since is None and name.endswith(_SUFFIXES)
                and "/" not in name):
            paths.append(path)
    return out
