"""The ``homebrew`` registry: the sub-planners, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import BaseModel

from mirrorkit.api import Artifact, PlanContext

from .options import HomebrewOptions

__all__ = ["Homebrew"]


class Homebrew:
    """Mirror Homebrew for brew 4.x-6.x clients (API files, bottles, OCI manifests, and the
    download cache tree of sources and casks)."""

    name: ClassVar[str] = "homebrew"
    summary: ClassVar[str] = "Homebrew API files, bottles and OCI manifests for offline clients"
    Options: ClassVar[type[BaseModel]] = HomebrewOptions

    async def plan(self, options: HomebrewOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        # imported here: the planners pull in the HTTP and OCI machinery, start-up cost for
        # every command (plugins are loaded by all of them) when only a homebrew run needs it
        from .api_planner import ApiPlanner
        from .bottle_planner import BottlePlanner
        from .brew_git import BrewGitPlanner
        from .downloads_planner import DownloadsPlanner
        from .planner import HomebrewPlan

        state = HomebrewPlan(options=options, ctx=ctx)
        # run in this order; later ones read what earlier ones left in the shared state. The
        # download cache tree comes before the bottles: a cask it must refuse fails the run
        # before any blob is committed.
        for planner in (ApiPlanner, DownloadsPlanner, BottlePlanner, BrewGitPlanner):
            async for artifact in planner().plan(state):
                yield artifact
