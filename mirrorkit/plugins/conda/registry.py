"""The ``conda`` registry: whole subdirs byte for byte, or a selection with its closure."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
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
        from .whole import WholeMirror

        work = ctx.work_dir / "conda"
        _clear_work(work, keep=("out",) if options.packages else ())
        if options.packages:
            async for artifact in plan_selective(options, ctx):
                yield artifact
            return
        whole = WholeMirror(options, ctx)
        if await whole.fetch_indexes():
            return
        for sub in whole.to_parse():
            for artifact in sub.packages():
                yield artifact
            await sub.check()
            whole.parsed_one(sub)
        whole.finish()


def _clear_work(work: Path, keep: tuple[str, ...]) -> None:
    """Remove what the work directory holds besides ``keep``: the other mode's files, and
    those of earlier versions (a package-list cache, decompressed upstream copies)."""
    if not work.is_dir():
        return
    for child in work.iterdir():
        if child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
