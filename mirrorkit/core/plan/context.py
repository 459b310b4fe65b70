"""The engine's implementation of :class:`PlanContext`, kept apart from the run itself."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifact import Artifact
from .registry import FetchError, PlanContext

if TYPE_CHECKING:
    from ..run.engine import MirrorRun
    from ..transport import Auth, Response

__all__ = ["EngineContext"]


class EngineContext(PlanContext):
    """The PlanContext a run hands its registry plugin: every call goes to the run."""

    def __init__(self, run: MirrorRun, work_dir: Path) -> None:
        self._run = run
        self.mirror = run.mirror.name
        self.dest = run.dest
        self.work_dir = work_dir
        self.dry_run = run.dry_run
        self.previous = run.prev
        self.log = logging.getLogger(f"mirrorkit.registry.{run.mirror.registry}")
        self.prune_grace = run.settings.prune_grace

    async def fetch(self, artifact: Artifact) -> Path:
        path = await self._run.process(artifact)
        if path is None:
            raise FetchError(artifact.path, artifact.url, self._run.error_for(artifact.path))
        return path

    def keep_previous(self, paths: Iterable[str] | None = None) -> bool:
        return self._run.keep_previous(paths)

    def fail(self, path: str, reason: str, *, url: str | None = None) -> None:
        art = self._run.planned.get(path)
        if art is None:
            art = Artifact(path, url=url or "plugin:")
        self._run._fail(art, reason)

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
        return await self._run.downloader.get(
            url, headers=headers, auth=auth, max_bytes=max_bytes, method=method,
            content=content, max_retry_after=max_retry_after,
        )

    def note(self, key: str, value: Any) -> None:
        self._run.report.notes[key] = value

