"""One run's plan: the root listing first, then the last plan again or a fresh one.

When upstream's serial has not moved since a complete plan was recorded for the same
options, that plan is replayed as it was: one request, no page, no ``packaging`` import.
Otherwise :mod:`.projects` plans project by project, and the new plan is recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator

from mirrorkit.api import Artifact, PlanContext, storable_url

from .fetch import fetch_root
from .options import PyPIOptions
from .plancache import PathPrint, PlanCache

__all__ = ["Planner"]


class Planner:
    def __init__(self, options: PyPIOptions, ctx: PlanContext) -> None:
        self.options = options
        self.ctx = ctx
        self.base = ctx.work_dir / "pypi"
        self.cache = PlanCache(self.base / "plan.jsonl")

    async def plan(self) -> AsyncIterator[Artifact]:
        requirements = self.options.requirement_strings()
        key = self._key(requirements)
        root = await fetch_root(self.ctx, self.options.index_url)
        replay = self.cache.replay(key, root.serial, self.options.index_url)
        if replay is not None:
            if self._snapshot_is(replay.paths) and self.ctx.keep_previous():
                replay.close()
                self.ctx.log.info("upstream serial %s unchanged: the mirror is up to date",
                                  root.serial)
                return
            try:
                for art in replay.artifacts():
                    yield art
                self.ctx.log.info("upstream serial %s unchanged: the last plan holds",
                                  root.serial)
                return
            except (OSError, ValueError, KeyError):
                self.ctx.log.info("the recorded plan is unusable: planning afresh")
        from .projects import ProjectPlanner  # packaging and the rest: only when planning

        planner = ProjectPlanner(self.options, self.ctx, self.base, root)
        self.cache.start(key, root.serial)
        try:
            async for art in planner.plan(requirements):
                self.cache.record(art)
                yield art
        except BaseException:
            self.cache.finish(False)
            raise
        self.cache.finish(planner.complete)

    def _snapshot_is(self, paths: str) -> bool:
        """Whether the previous snapshot holds exactly the recorded plan's paths (not so
        after a run that failed: its failed files are missing, its stale ones still there)."""
        prev = self.ctx.previous
        if prev is None:
            return False
        return str(PathPrint.of(p for p, e in prev.files.items()
                                if e.stale_since is None)) == paths

    def _key(self, requirements: list[str]) -> str:
        """What the plan depends on besides upstream: the options and the requirements."""
        opts = self.options.model_dump(mode="json")
        opts["index_url"] = storable_url(self.options.index_url)  # no credential, even hashed
        opts["requirements"] = requirements
        return hashlib.sha256(json.dumps(opts, sort_keys=True).encode()).hexdigest()
