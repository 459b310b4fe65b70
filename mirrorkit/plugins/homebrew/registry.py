"""The ``homebrew`` registry: the sub-planners, in order, around the plan's checkpoint.

1. The API files are fetched (every input of the bottle and download selection).
2. When they, the key and the options are not those the mirror was last checked with, they
   are checked and read now, so that a file brew would refuse, an unknown formula or a cask
   that must be refused fails the run before anything else is planned.
3. brew's and the taps' git mirrors are planned (their files fetched through the core, so it
   sees them; see :mod:`.brew_git`).
4. The checkpoint: when every file fetched so far and the options are what the last run had,
   the core keeps the previous snapshot as it is (``ctx.keep_previous_plan``) and the run is
   done: nothing is parsed, no manifest is asked for. Not with ``--allow-unchecked-casks``
   and a ``--cask``: such a cask is fetched again every run, which a kept plan would not do.
5. Otherwise the files are read (if step 2 did not), then the download cache tree, the
   bottles with their manifests, and portable-ruby are yielded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import BaseModel

from mirrorkit.api import Artifact, PlanContext

from .options import HomebrewOptions

__all__ = ["Homebrew"]


def may_keep_previous_plan(options: HomebrewOptions) -> bool:
    """False when the plan holds files fetched again on every run (unchecked casks)."""
    return not (options.casks and options.allow_unchecked_casks)


class Homebrew:
    """Mirror Homebrew for brew 4.x-6.x clients (API files, bottles, OCI manifests, and the
    download cache tree of sources and casks)."""

    name: ClassVar[str] = "homebrew"
    summary: ClassVar[str] = "Homebrew API files, bottles and OCI manifests for offline clients"
    Options: ClassVar[type[BaseModel]] = HomebrewOptions

    async def plan(self, options: HomebrewOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        # imported here: the planners pull in the HTTP and OCI machinery, start-up cost for
        # every command (plugins are loaded by all of them) when only a homebrew run needs it
        from .api_planner import ApiPlanner, already_checked
        from .downloads_planner import DownloadsPlanner
        from .planner import HomebrewPlan

        state = HomebrewPlan(options=options, ctx=ctx)
        api, downloads = ApiPlanner(), DownloadsPlanner()
        await api.fetch(state)
        checked = await already_checked(state)
        if not checked:
            await api.select(state)
            await downloads.select(state)
        git = None
        if options.brew_git or options.taps:  # the git plugin's planner, only then
            from .brew_git import BrewGitPlanner

            git = BrewGitPlanner()
            await git.prepare(state)
        if may_keep_previous_plan(options) and ctx.keep_previous_plan():
            return
        from .bottle_planner import BottlePlanner

        if checked:
            await api.select(state)
            await downloads.select(state)
        # the download cache tree, then the bottles: the API files, committed last, name both
        async for artifact in downloads.plan(state):
            yield artifact
        async for artifact in BottlePlanner().plan(state):
            yield artifact
        if git is not None:
            async for artifact in git.plan(state):
                yield artifact
