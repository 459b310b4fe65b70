"""The engine's implementation of :class:`PlanContext`: the plugin's view of one run.

Every call goes to the run through :class:`PlanServices`, the few things a plan may ask of
it; the context keeps no state of its own beyond what it was given.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .artifact import Artifact
from .registry import FetchError, PlanContext

if TYPE_CHECKING:
    from ..store.manifest import FileEntry, Manifest
    from ..transport import Auth, Response

__all__ = ["EngineContext", "PlanServices"]


class PlanServices(Protocol):
    """What the run offers its plan context."""

    async def fetch_now(self, art: Artifact) -> Path | None: ...
    def error_for(self, path: str) -> str: ...
    def entry_for(self, path: str) -> FileEntry | None: ...
    def fail_path(self, path: str, reason: str, url: str | None) -> None: ...
    def note(self, key: str, value: Any) -> None: ...
    def keep_previous(self, paths: Iterable[str] | None = None) -> bool: ...
    async def get(self, url: str, *, headers: Mapping[str, str] | None, auth: Auth | None,
                  max_bytes: int, method: str, content: bytes | None,
                  max_retry_after: float | None) -> Response: ...


class EngineContext(PlanContext):
    """The PlanContext a run hands its registry plugin."""

    def __init__(self, services: PlanServices, *, mirror: str, registry: str, dest: Path,
                 work_dir: Path, dry_run: bool, previous: Manifest | None,
                 prune_grace: float) -> None:
        self._services = services
        self.mirror = mirror
        self.dest = dest
        self.work_dir = work_dir
        self.dry_run = dry_run
        self.previous = previous
        self.log = logging.getLogger(f"mirrorkit.registry.{registry}")
        self.prune_grace = prune_grace

    async def fetch(self, artifact: Artifact) -> Path:
        path = await self._services.fetch_now(artifact)
        if path is None:
            raise FetchError(artifact.path, artifact.url, self._services.error_for(artifact.path))
        return path

    def keep_previous(self, paths: Iterable[str] | None = None) -> bool:
        return self._services.keep_previous(paths)

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
    ) -> Response:
        return await self._services.get(url, headers=headers, auth=auth, max_bytes=max_bytes,
                                        method=method, content=content,
                                        max_retry_after=max_retry_after)

    def note(self, key: str, value: Any) -> None:
        self._services.note(key, value)
