"""One run's plan: the root listing first, then the previous snapshot kept, or a new plan.

The root listing names every project with its serial (pypi.org's, bandersnatch's): when it
is what the last run read, and the options (requirements files included) are the same,
the core keeps the previous snapshot (``ctx.keep_previous_plan``): one request, no page,
no ``packaging`` import. Otherwise :mod:`.projects` plans project by project.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from mirrorkit.api import Artifact, PlanContext

from .fetch import fetch_root
from .options import PyPIOptions

__all__ = ["Planner"]

#: what older versions of the plugin kept in its work directory, now in ``ctx.state`` or gone
_LEGACY_FILES = ("state.sqlite3", "state.sqlite3-journal", "plan.jsonl")
_LEGACY_DIRS = ("projects", "pages/simple")


class Planner:
    def __init__(self, options: PyPIOptions, ctx: PlanContext) -> None:
        self.options = options
        self.ctx = ctx

    async def plan(self) -> AsyncIterator[Artifact]:
        root = await fetch_root(self.ctx, self.options.index_url)
        # only a listing that carries the serial in its body says that no page changed
        if root.serial_in_body and self.ctx.keep_previous_plan():
            self.ctx.log.info("upstream serial %s unchanged: the mirror is up to date",
                              root.serial)
            return
        from .projects import ProjectPlanner  # packaging and the rest: only when planning

        base = self.ctx.work_dir / "pypi"
        _drop_legacy(base)
        planner = ProjectPlanner(self.options, self.ctx, base / "pages", root)
        async for art in planner.plan(self.options.requirement_strings()):
            yield art


def _drop_legacy(base: Path) -> None:
    """The project database and plan cache of older versions (megabytes to gigabytes)."""
    for name in _LEGACY_FILES:
        (base / name).unlink(missing_ok=True)
    for name in _LEGACY_DIRS:
        shutil.rmtree(base / name, ignore_errors=True)
