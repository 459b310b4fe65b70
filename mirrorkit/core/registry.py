"""The registry plugin API: what a plugin implements, and the context the core hands it.

A registry only says *what* to mirror by yielding :class:`Artifact` objects from ``plan``;
concurrency, retries, verification, staging, manifests, pruning and reports are the core's.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from .artifact import Artifact
from .manifest import Manifest

if TYPE_CHECKING:
    import httpx

__all__ = ["FetchError", "PlanContext", "PlanError", "RegistryPlugin"]


class PlanError(Exception):
    """The plugin cannot plan: upstream data is malformed or missing. One clear line."""


class FetchError(Exception):
    """A file could not be fetched (after retries) or did not verify."""

    def __init__(self, path: str, url: str | None, reason: str) -> None:
        super().__init__(f"{path}: {reason}" + (f" (from {url})" if url else ""))
        self.path = path
        self.url = url
        self.reason = reason


class PlanContext(abc.ABC):
    """Given to ``RegistryPlugin.plan``; implemented by the engine."""

    #: The mirror's name (from the config, or the registry name on the command line).
    mirror: str
    #: The mirror root. Plugins must not write into it directly.
    dest: Path
    #: A directory the plugin owns and that survives between runs (git work repositories...).
    work_dir: Path
    #: True for ``--dry-run`` / ``mirrorkit plan``: fetched indexes go to a scratch directory.
    dry_run: bool
    #: The last committed manifest, or None on the first run.
    previous: Manifest | None
    log: logging.Logger
    #: Figures for the run report (``RunReport.extra``, printed at the top level of
    #: ``--json``): a size estimate, counts only the plugin knows. JSON values only.
    extra: dict[str, Any]

    @abc.abstractmethod
    async def fetch(self, artifact: Artifact) -> Path:
        """Fetch (or reuse) ``artifact`` now and return a path to read its bytes from.

        The artifact is part of the plan as if it had been yielded: staged now, committed in
        its turn (an index last). Raises :class:`FetchError` when it cannot be had.
        """

    @abc.abstractmethod
    async def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        max_bytes: int = 64 * 1024 * 1024,
        method: str = "GET",
    ) -> httpx.Response:
        """A transient request with the run's client, retries and limits; nothing is stored.

        The response body is read into memory (at most ``max_bytes``).
        """

    @abc.abstractmethod
    def fail(self, path: str, reason: str, *, url: str | None = None) -> None:
        """Report a planned file as failed after the plugin checked its content.

        For problems only the plugin can see (a manifest that lacks a bottle the index
        promises): the run fails like on a bad download, no index is committed, and the
        report lists ``path`` with ``reason``.
        """

    @property
    @abc.abstractmethod
    def client(self) -> httpx.AsyncClient:
        """The run's pooled client, for requests the helpers above do not cover."""


@runtime_checkable
class RegistryPlugin(Protocol):
    """What ``registries.add(...)`` accepts (a class; the core instantiates it per run)."""

    name: str
    summary: str
    Options: type[BaseModel]

    def plan(self, options: Any, ctx: PlanContext) -> AsyncIterator[Artifact]:
        """Yield every artifact of the mirror. May ``await ctx.fetch(...)`` indexes first."""
        ...
