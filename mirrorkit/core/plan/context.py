"""The engine's implementation of :class:`PlanContext`: the plugin's view of one run.

Every call goes to the run through :class:`PlanServices`, the few things a plan may ask of
it; the context keeps no state of its own beyond what it was given.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .artifact import Artifact
from .registry import Fetched, FetchError, PlanContext

if TYPE_CHECKING:
    from ..store.previous import PreviousSnapshot
    from ..transport import Auth, Response, Validators
    from .state import PluginState

__all__ = ["EngineContext", "PlanServices"]


class PlanServices(Protocol):
    """What the run offers its plan context."""

    async def fetch_now(self, art: Artifact) -> Fetched | FetchError: ...
    async def start_fetch(self, art: Artifact) -> None: ...
    async def fetched(self, art: Artifact) -> Fetched | FetchError: ...
    async def previous_file(self, path: str) -> Path | None: ...
    def fail_path(self, path: str, reason: str, url: str | None) -> None: ...
    def note(self, key: str, value: Any) -> None: ...
    def keep_previous(self, paths: Iterable[str] | None = None, *,
                      all_or_nothing: bool = True) -> bool: ...
    def keep_previous_plan(self) -> bool: ...
    async def get(self, url: str, *, headers: Mapping[str, str] | None, auth: Auth | None,
                  max_bytes: int, method: str, content: bytes | None,
                  max_retry_after: float | None, conditional: Validators | None
                  ) -> Response: ...


class EngineContext(PlanContext):
    """The PlanContext a run hands its registry plugin."""

    def __init__(self, services: PlanServices, *, mirror: str, registry: str,
                 work_dir: Path, dry_run: bool,
                 previous: Callable[[], PreviousSnapshot | None],
                 state: PluginState, prune_grace: float) -> None:
        self._services = services
        self.mirror = mirror
        self.work_dir = work_dir
        self.dry_run = dry_run
        self._previous = previous
        self.state = state
        self.log = logging.getLogger(f"mirrorkit.registry.{registry}")
        self.prune_grace = prune_grace

    @property
    def previous(self) -> PreviousSnapshot | None:
        """The last committed snapshot (its files read in full the first time a plugin
        asks for one that is not an index file, or for all of them)."""
        return self._previous()

    async def fetch(self, artifact: Artifact) -> Fetched:
        got = await self._services.fetch_now(artifact)
        if isinstance(got, FetchError):
            raise got
        return got

    async def fetch_all(self, artifacts: Iterable[Artifact]
                        ) -> AsyncIterator[tuple[Artifact, Fetched | FetchError]]:
        started: list[Artifact] = []
        for art in artifacts:  # every one in flight before the first is waited for
            await self._services.start_fetch(art)
            started.append(art)
        for art in started:
            yield art, await self._services.fetched(art)

    async def previous_file(self, path: str) -> Path | None:
        return await self._services.previous_file(path)

    def keep_previous_plan(self) -> bool:
        return self._services.keep_previous_plan()

    def keep_previous(self, paths: Iterable[str] | None = None, *,
                      all_or_nothing: bool = True) -> bool:
        return self._services.keep_previous(paths, all_or_nothing=all_or_nothing)

    def fail(self, path: str, reason: str, *, url: str | None = None) -> None:
        self._services.fail_path(path, reason, url)

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
        conditional: Validators | None = None,
    ) -> Response:
        return await self._services.get(url, headers=headers, auth=auth, max_bytes=max_bytes,
                                        method=method, content=content,
                                        max_retry_after=max_retry_after,
                                        conditional=conditional)

    def note(self, key: str, value: Any) -> None:
        self._services.note(key, value)
