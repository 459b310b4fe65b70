"""Progress bars on a terminal (rich), nothing at all when stderr is not one."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..plan.artifact import Artifact

__all__ = ["RichObserver"]


class RichObserver:
    """Draws files done / planned and bytes with rate and ETA."""

    def __init__(self, label: str, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[transfer]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            disable=not self.enabled,
        )
        self._task: TaskID = self._progress.add_task(label, total=0, transfer="")
        self._bytes_total = 0
        self._started = time.monotonic()
        self._last_draw = 0.0

    def __enter__(self) -> RichObserver:
        self._progress.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def planned(self, artifact: Artifact) -> None:
        task = self._progress.tasks[0]
        self._progress.update(self._task, total=(task.total or 0) + 1)

    def bytes(self, count: int) -> None:
        self._bytes_total += count
        now = time.monotonic()
        if now - self._last_draw > 0.2:
            self._last_draw = now
            rate = self._bytes_total / max(now - self._started, 1e-6)
            self._progress.update(
                self._task, transfer=f"{decimal(self._bytes_total)} {decimal(int(rate))}/s"
            )

    def done(self, artifact: Artifact, outcome: str) -> None:
        self._progress.update(self._task, advance=1)
