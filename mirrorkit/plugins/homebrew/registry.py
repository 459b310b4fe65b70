"""The ``homebrew`` registry: the sub-planners, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import BaseModel

from mirrorkit.api import Artifact, PlanContext

from .api_planner import ApiPlanner
from .bottle_planner import BottlePlanner
from .brew_git import BrewGitPlanner
from .options import HomebrewOptions
from .planner import HomebrewPlan, SubPlanner

__all__ = ["Homebrew"]


class Homebrew:
    """Mirror Homebrew for brew 4.x-6.x clients (API files, bottles, OCI manifests)."""

    name: ClassVar[str] = "homebrew"
    summary: ClassVar[str] = "Homebrew API files, bottles and OCI manifests for offline clients"
    Options: ClassVar[type[BaseModel]] = HomebrewOptions

    #: run in this order; later ones read what earlier ones left in the shared state
    planners: ClassVar[tuple[type[SubPlanner], ...]] = (
        ApiPlanner, BottlePlanner, BrewGitPlanner)

    async def plan(self, options: HomebrewOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        state = HomebrewPlan(options=options, ctx=ctx)
        for planner in self.planners:
            async for artifact in planner().plan(state):
                yield artifact
