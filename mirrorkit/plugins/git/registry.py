"""The ``git`` registry: whole repositories (every branch and tag) as dumb-HTTP mirrors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import BaseModel

from mirrorkit.api import Artifact, PlanContext

from .options import GitOptions

__all__ = ["GitRegistry"]


class GitRegistry:
    """Mirror git repositories so that a plain static web server can serve `git clone`.

    Every branch and tag is fetched into a private work repository (only new objects; deleted
    refs are deleted, force pushes followed), then published as packs plus the files dumb-HTTP
    clients read (info/refs, objects/info/packs, packed-refs, HEAD), refs last.
    """

    name: ClassVar[str] = "git"
    summary: ClassVar[str] = "Git repositories (all branches and tags) as static dumb-HTTP mirrors"
    Options: ClassVar[type[BaseModel]] = GitOptions

    async def plan(self, options: GitOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        from .planner import plan_repos  # only a git run needs it, not every start-up

        async for art in plan_repos(options.repo_specs(), ctx, max_packs=options.max_packs,
                                    full_repack=options.full_repack, lfs=options.lfs,
                                    lfs_history=options.lfs_history):
            yield art
