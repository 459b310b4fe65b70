"""What the Homebrew sub-planners share: the run's state and a few helpers.

Each sub-planner owns one part of the mirror (the API files, the download cache tree, the
bottles and manifests, brew's git repository, taps and portable-ruby) and may read what
earlier ones learned from :class:`HomebrewPlan`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio

from mirrorkit.api import Artifact, Fetched, FetchError, OCIBearerAuth, PlanContext

from .api import LegacyFormula, PackagesIndex
from .downloads import Download
from .oci import BottleRef
from .options import HomebrewOptions
from .signature import ApiKey

__all__ = ["HomebrewPlan", "fetch_all", "in_thread"]

T = TypeVar("T")


@dataclass(slots=True)
class HomebrewPlan:
    """State shared by the sub-planners of one run."""

    options: HomebrewOptions
    ctx: PlanContext
    #: ghcr.io's anonymous bearer flow (``QQ==``, tokens per repository), one per run
    auth: OCIBearerAuth = field(default_factory=OCIBearerAuth)
    #: the bottle tags mirrored (the options' or every tag upstream has bottles for)
    tags: list[str] = field(default_factory=list)
    #: per tag, the reduced ``internal/packages.<tag>.jws.json``
    packages: dict[str, PackagesIndex] = field(default_factory=dict)
    #: the reduced ``formula.jws.json``
    legacy: dict[str, LegacyFormula] = field(default_factory=dict)
    #: every bottle to mirror, sorted (set by the API planner)
    bottles: list[BottleRef] = field(default_factory=list)
    #: the files of ``downloads/`` (set by the downloads planner)
    downloads: list[Download] = field(default_factory=list)
    #: the key the API files' signatures are checked against (set by the API planner)
    api_key: ApiKey | None = None
    #: the API files of this run, fetched: mirror path (``api/...``) -> readable file
    api_files: dict[str, Fetched] = field(default_factory=dict)


async def fetch_all(ctx: PlanContext, artifacts: Iterable[Artifact]) -> dict[str, Fetched]:
    """Many artifacts fetched at once (``ctx.fetch_all``); ``{path: fetched file}``.

    The first failure is raised (as itself, so the run reports one clear line).
    """
    out: dict[str, Fetched] = {}
    async for art, got in ctx.fetch_all(artifacts):
        if isinstance(got, FetchError):
            raise got
        out[art.path] = got
    return out


async def in_thread(func: Callable[[], T]) -> T:
    """Run CPU-heavy parsing off the event loop, so downloads in flight keep flowing."""
    return await anyio.to_thread.run_sync(func)
