"""What a run has found out so far: each file's verified entry, the failures, what is staged.

The fetcher writes here as files are verified, the plan context reads and writes through the
run, and the commit reads it once at the end; nothing else keeps per-file results. A failure
that ends the whole run (no space left, a plan that cannot be mirrored) is recorded here too,
and the run's task group is told to stop through the ``on_stop`` hook the run sets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..plan.artifact import Artifact, Kind
from ..redact import redact
from ..store.manifest import FileEntry
from .report import ArtifactError, RunReport

__all__ = ["RunLedger", "Staged"]

log = logging.getLogger("mirrorkit.engine")


@dataclass(slots=True)
class Staged:
    """A verified file waiting in staging for the commit (an index, or a blob that replaces
    a file or needs the name of one)."""

    artifact: Artifact
    tmp: Path
    entry: FileEntry
    mtime: float | None


class RunLedger:
    """Per-file outcomes of one run, and the run-level failure if there is one."""

    def __init__(self, report: RunReport, on_done: Callable[[Artifact, str], None]) -> None:
        self.report = report
        self._on_done = on_done
        #: every file of the new snapshot found so far: kept, downloaded, copied, linked
        self.entries: dict[str, FileEntry] = {}
        self.failed: dict[str, ArtifactError] = {}
        #: new blobs already renamed into the tree (early commits)
        self.committed_new: dict[str, FileEntry] = {}
        self.staged_index: list[Staged] = []
        #: blobs that replace a file or need the name of one: committed with the changeset
        self.deferred_blobs: list[Staged] = []
        #: links of the plan, made at commit time once their targets are in place
        self.links: list[Artifact] = []
        #: where a processed file's bytes can be read (staging, or the tree once in place)
        self.readable: dict[str, Path] = {}
        #: dry run: files that would be downloaded or copied, with their size when known
        self.would_change: dict[str, int | None] = {}
        #: the one failure of the run as a whole (planning failed, no space left, refused)
        self.run_error: str | None = None
        #: the plan cannot be committed as a whole: what was put in place is taken back
        self.refused = False
        self.on_stop: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ per file
    def keep(self, art: Artifact, entry: FileEntry) -> str:
        self.entries[art.path] = entry
        self.report.skipped += 1
        return "kept"

    def fail(self, art: Artifact, reason: str, status: int | None = None) -> None:
        err = ArtifactError(path=art.path, url=redact(art.origin), error=redact(reason),
                            status=status)
        self.failed[art.path] = err
        self.report.errors.append(err)
        self.report.failed += 1
        self._on_done(art, "failed")
        # info, not error: the CLI prints every failure once (with its URL) and the report
        # lists them; this record is for --log-format json streams
        log.info("failed: %s: %s", art.path, err.error,
                 extra={"path": art.path, "url": err.url})

    def error_for(self, path: str) -> tuple[str, int | None]:
        """Why ``path`` failed, and the HTTP status that ended it."""
        err = self.failed.get(path)
        return (err.error, err.status) if err else ("failed", None)

    def stage(self, art: Artifact, tmp: Path, entry: FileEntry, mtime: float | None) -> None:
        """A verified file that waits in staging for the commit."""
        staged = Staged(art, tmp, entry, mtime)
        if art.kind is Kind.INDEX:
            self.staged_index.append(staged)
        else:
            self.deferred_blobs.append(staged)
        self.entries[art.path] = entry
        self.readable[art.path] = tmp

    # ------------------------------------------------------------- the whole run
    def stop(self, message: str) -> None:
        """A failure no retry can fix (no space left): one error, and the run winds down."""
        if self.run_error is None:
            self.run_error = message
            self.report.errors.append(ArtifactError(path="<run>", error=message))
            log.info("stopped: %s", message)  # printed once by the CLI, from the report
        self.on_stop()

    def refuse(self, message: str) -> None:
        """The plan cannot be committed as a whole: stop, and undo early commits."""
        self.refused = True
        self.stop(message)

    def plan_failed(self, message: str, *, reported: bool) -> None:
        """Planning raised: the run fails with ``message`` (``reported``: already listed as
        the failed file that stopped the plan)."""
        if self.run_error is not None:
            return
        self.run_error = message
        if not reported:
            self.report.errors.insert(
                0, ArtifactError(path="<plan>", error=f"planning failed: {message}"))

    @property
    def commits(self) -> bool:
        """Whether the run may commit a new snapshot (``allow_partial``: despite failures)."""
        return self.run_error is None

    def finish_status(self, allow_partial: bool) -> None:
        if self.run_error or (self.failed and not allow_partial):
            self.report.status = "failed"
        elif self.failed:
            self.report.status = "partial"
        else:
            self.report.status = "ok"
