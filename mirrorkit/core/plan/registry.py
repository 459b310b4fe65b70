"""The registry plugin API: what a plugin implements, and the context the core hands it.

A registry only says *what* to mirror by yielding :class:`Artifact` objects from ``plan``;
concurrency, retries, verification, staging, manifests, pruning and reports are the core's.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from ..store.manifest import Manifest
from .artifact import Artifact

if TYPE_CHECKING:
    from ..transport import Auth, Response

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
    #: Seconds a file that left the plan stays published (``--prune-grace``); a plugin that
    #: keeps private state per published thing (git work repositories) drops it after this.
    prune_grace: float = 0.0

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
        auth: Auth | None = None,
        max_bytes: int = 64 * 1024 * 1024,
        method: str = "GET",
        content: bytes | None = None,
        max_retry_after: float | None = None,
    ) -> Response:
        """A transient request through the run's transport (limits, retries, proxies, CA).

        Nothing is stored. The body is read into memory (at most ``max_bytes``); a status
        of 300 or more (after redirects) raises :class:`FetchError`. ``content`` is the
        request body (a JSON API's POST). ``max_retry_after`` is the longest ``Retry-After``
        or rate-limit reset this request waits for: a longer one fails it at once, so the
        plugin can take another way (the run's ``--max-retry-after`` still caps every wait).
        """

    @abc.abstractmethod
    def fail(self, path: str, reason: str, *, url: str | None = None) -> None:
        """Report a planned file as failed after the plugin checked its content.

        For problems only the plugin can see (a manifest that lacks a bottle the index
        promises): the run fails like on a bad download, no index is committed, and the
        report lists ``path`` with ``reason``.
        """

    def note(self, key: str, value: Any) -> None:
        """Record a fact about this run in the report's ``notes`` (``--json``, notifiers).

        For what only the plugin knows and an operator may act on (the git-tree registry
        notes that it fell back to a clone). Values must be JSON-serialisable. A context
        without a report (this default) only logs the fact.
        """
        self.log.debug("note: %s = %r", key, value)

    def keep_previous(self, paths: Iterable[str] | None = None) -> bool:
        """Keep files of the previous snapshot as planned, when every one is in place.

        For a plugin that knows nothing changed upstream since the plan that made the
        previous snapshot (a serial that did not move): instead of yielding every artifact
        again, it asks the core to keep them all. True means done (each file was found with
        its recorded size; yield nothing more); False means plan as usual (a file is missing
        or changed on disk, a dry run, or a context that cannot do it).

        With ``paths``, only those files are kept, and the plugin goes on planning the rest
        (a conda subdir whose ``repodata.json`` did not change, beside one that did). The
        plugin vouches that each file's entry in ``previous.files`` is what its index names
        (digest and size); the core checks that each is in the previous snapshot, outside
        its prune grace, not planned otherwise, and on disk with its recorded size. All or
        nothing: False keeps none of them.
        """
        return False



@runtime_checkable
class RegistryPlugin(Protocol):
    """What ``registries.add(...)`` accepts (a class; the core instantiates it per run)."""

    name: str
    summary: str
    Options: type[BaseModel]

    def plan(self, options: Any, ctx: PlanContext) -> AsyncIterator[Artifact]:
        """Yield every artifact of the mirror. May ``await ctx.fetch(...)`` indexes first."""
        ...
