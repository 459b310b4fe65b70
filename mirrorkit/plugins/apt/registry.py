"""The ``apt`` registry: Debian/Ubuntu repositories from apt-mirror's list, TOML, or flags."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from mirrorkit.api import Artifact, PlanContext, PlanError

from .options import AptOptions

__all__ = ["Apt"]


class Apt:
    """Mirror apt repositories (Debian, Ubuntu, Ubuntu ESM) in apt-mirror's layout.

    \b
    mirrorkit run apt --mirror-list /etc/apt/mirror.list --dest /srv/apt-mirror/mirror
    mirrorkit run apt --url http://deb.debian.org/debian --suite bookworm \\
        --component main --arch amd64 --keyring debian-archive-keyring.gpg --dest ./debian
    mirrorkit plan apt --mirror-list mirror.list --json      # size estimate
    """

    name: ClassVar[str] = "apt"
    summary: ClassVar[str] = "apt repositories (apt-mirror lists, signed indexes, pool files)"
    Options: ClassVar[type[BaseModel]] = AptOptions

    @staticmethod
    def default_dest(options: AptOptions) -> Path | None:
        """apt-mirror's ``set mirror_path`` (or ``base_path``/mirror) when --dest is not given."""
        if options.mirror_list is None:
            return None
        from .mirrorlist import read_mirror_list

        try:
            return read_mirror_list(options.mirror_list).mirror_path
        except PlanError:
            return None  # the run reports the list's problem with its line number

    async def plan(self, options: AptOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        # imported here: every mirrorkit command loads every plugin, only an apt run plans
        from .absent import load_absent, save_absent
        from .estimate import readable_size
        from .keep import keep_unlisted
        from .keptplan import load_estimate, same_selection, save_estimate
        from .planner import AptState, SuitePlanner, fetch_releases, plan_suites
        from .resolve import resolve

        resolved = resolve(options)
        if resolved.ignored:
            ctx.log.warning("mirror list: ignored set %s", ", ".join(resolved.ignored))
        state = AptState(ctx, udeb=options.udeb, contents=resolved.contents,
                         translations=options.translations,
                         absent_before=await load_absent(ctx))
        planners = [SuitePlanner(suite, state) for suite in resolved.suites]
        await fetch_releases(planners, ctx)  # every signature checked before anything else
        if state.unverified:
            ctx.log.warning("signatures not checked (no signed-by= or --keyring): %s",
                            "; ".join(state.unverified))
        repos = [spec.describe() for spec in resolved.specs]
        # every Release file as the last run read it, the same selection: the same plan
        if await same_selection(ctx, resolved) and ctx.keep_previous_plan():
            for key, value in {**await load_estimate(ctx), "included_repos": repos}.items():
                ctx.note(key, value)
            return
        async for art in plan_suites(planners):
            yield art
        save_absent(ctx, state.absent, state.absent_before)
        estimate = {"bytes": state.bytes, "readable": readable_size(state.bytes),
                    "packages": state.packages}
        await save_estimate(ctx, estimate)
        for key, value in {**estimate, "included_repos": repos}.items():
            ctx.note(key, value)
        keep_unlisted(ctx, state.seen, resolved.clean_prefixes)
