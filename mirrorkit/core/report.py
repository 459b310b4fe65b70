"""The run report: the machine-readable account of one run (``--json``, hooks, notifiers)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["ArtifactError", "RunReport"]


class ArtifactError(BaseModel):
    path: str
    url: str | None = None
    error: str


class RunReport(BaseModel):
    mirror: str
    registry: str
    dest: str
    status: Literal["ok", "failed", "partial"] = "ok"
    dry_run: bool = False
    snapshot: str | None = None
    previous_snapshot: str | None = None
    files: int = 0
    downloaded: int = 0
    bytes_downloaded: int = 0
    skipped: int = 0
    failed: int = 0
    removed: int = 0
    bytes_to_download: int = 0
    unknown_sizes: int = 0
    duration_s: float = 0.0
    started: str | None = None
    errors: list[ArtifactError] = Field(default_factory=list)
    sinks: dict[str, str] = Field(default_factory=dict)
    #: figures the registry adds (``ctx.extra``): apt's size estimate; printed at the top
    #: level of ``--json`` beside these fields, never replacing one of them
    extra: dict[str, Any] = Field(default_factory=dict)
