"""The run report: the machine-readable account of one run (``--json``, hooks, notifiers)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["ArtifactError", "HostReport", "PlannedChange", "RunReport"]


class ArtifactError(BaseModel):
    path: str
    url: str | None = None
    error: str
    #: the HTTP status that ended it, when one did (404, 503 ...)
    status: int | None = None


class HostReport(BaseModel):
    """What the transport found out about one host during the run."""

    host: str
    #: the in-flight limit it settled on (adaptive) or was given (pinned)
    limit: int
    pinned: bool
    #: the highest limit it reached
    max_limit: int
    requests: int
    #: requests refused (429, 503), reset or timed out
    refusals: int
    #: seconds no request started there because of a Retry-After
    paused_s: float = 0.0
class PlannedChange(BaseModel):
    """One file a run changes in the mirror: what ``mirrorkit plan`` lists.

    ``reason`` is ``new`` (not in the mirror yet), ``changed`` (its content differs from the
    mirrored one) or ``removed`` (left the plan: pruned). ``size`` is None when neither the
    plan nor upstream said it before the download.
    """

    path: str
    size: int | None = None
    reason: Literal["new", "changed", "removed"]
    kind: str = "blob"


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
    #: files copied from a plugin's own output (``Artifact.local``), not downloaded
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    removed: int = 0
    bytes_to_download: int = 0
    unknown_sizes: int = 0
    duration_s: float = 0.0
    started: str | None = None
    errors: list[ArtifactError] = Field(default_factory=list)
    #: every input of the plan was what the last committed run read: its snapshot was kept
    #: without planning again (``ctx.keep_previous_plan``)
    kept_plan: bool = False
    sinks: dict[str, str] = Field(default_factory=dict)
    hosts: list[HostReport] = Field(default_factory=list)
    #: facts a registry plugin recorded with ``ctx.note`` (e.g. ``git-tree.fell_back``)
    notes: dict[str, Any] = Field(default_factory=dict)
    #: every file the run adds, replaces or removes (the same list ``mirrorkit plan`` shows)
    changes: list[PlannedChange] = Field(default_factory=list)
    #: what happened to notifications and the metrics file, one line each
    notices: list[str] = Field(default_factory=list)

    def __repr__(self) -> str:
        # short: asyncio formats the finished main task with its result (the reports) when
        # ``anyio.run`` restores the SIGINT handler, and a plan of 400,000 changes spent
        # seconds building a repr nobody reads
        return (f"RunReport(mirror={self.mirror!r}, status={self.status!r}, "
                f"files={self.files}, changes={len(self.changes)})")
