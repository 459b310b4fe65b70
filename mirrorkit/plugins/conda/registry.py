"""The ``conda`` registry: whole subdirs byte for byte, or a selection with its closure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import BaseModel

from mirrorkit.api import Artifact, PlanContext

from .options import CondaOptions

__all__ = ["Conda"]


class Conda:
    """Mirror a conda channel's subdirs for conda, mamba, pixi and rattler clients."""

    name: ClassVar[str] = "conda"
    summary: ClassVar[str] = ("conda channels (conda-forge, anaconda main): whole subdirs or "
                              "packages with their dependencies")
    Options: ClassVar[type[BaseModel]] = CondaOptions

    async def plan(self, options: CondaOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        # imported here: every mirrorkit command loads every plugin, only a conda run plans
        from .selective import plan_selective
        from .whole import WholeSubdir, plan_channeldata

        if options.packages:
            async for artifact in plan_selective(options, ctx):
                yield artifact
            return
        for subdir in options.all_subdirs:
            whole = WholeSubdir(options, ctx, subdir)
            await whole.fetch_index()
            for artifact in whole.packages():
                yield artifact
            await whole.check()
        async for artifact in plan_channeldata(options, ctx):
            yield artifact
