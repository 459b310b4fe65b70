"""The ``opam`` registry: an opam 2 repository, whole or a selection, with its archives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import BaseModel

from mirrorkit.api import Artifact, PlanContext

from .options import OpamOptions

__all__ = ["Opam"]


class Opam:
    """Mirror an opam repository (its index, repo file and source archive cache) for opam 2."""

    name: ClassVar[str] = "opam"
    summary: ClassVar[str] = ("opam repositories (opam.ocaml.org): the index and every source "
                              "archive, whole or packages with their dependencies")
    Options: ClassVar[type[BaseModel]] = OpamOptions

    async def plan(self, options: OpamOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        # imported here: every mirrorkit command loads every plugin, only an opam run plans
        from .planner import plan_repository

        async for artifact in plan_repository(options, ctx):
            yield artifact
