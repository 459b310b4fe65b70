"""The ``pypi`` registry: projects of a simple index, their files and dependency closure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import BaseModel

from mirrorkit.api import Artifact, PlanContext

from .options import PyPIOptions

__all__ = ["PyPI"]


class PyPI:
    """Mirror projects of a PyPI-like simple index into a static tree pip and uv install from.

    Pages are generated (PEP 503 HTML and PEP 691 JSON) for the files actually mirrored, so
    the tree never names a file it lacks, whatever filters were applied.
    """

    name: ClassVar[str] = "pypi"
    summary: ClassVar[str] = ("Python packages from a simple index (PyPI), with their "
                              "dependency closure, as a static index pip and uv install from")
    Options: ClassVar[type[BaseModel]] = PyPIOptions

    async def plan(self, options: PyPIOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        from .planner import Planner  # packaging and the planner only when a run plans

        async for artifact in Planner(options, ctx).plan():
            yield artifact
