"""New files renamed into the mirror during the run, in batches on a worker thread.

A file at a path that nothing names yet (no previous version, no index listing it) can go to
its final place as soon as it is verified: the run's indexes, written last, are what make it
visible. Each of these renames (and the directories it creates) is a few hundred
microseconds of system time; done inline they held the event loop for a quarter of a
Homebrew tag's first mirror (885 files, 1,300 new directories). Here they are queued and
done a batch at a time on one worker thread (the system calls release the GIL), so the
event loop keeps receiving while the disk work runs on the second core.

A small downloaded body can come here still in memory (``Pending.body``): the thread then
writes it too, so the event loop does no file system call for it at all. The bytes held
this way are bounded (:data:`HOLD_LIMIT`); past it, bodies are written inline as before.

Batches run one after the other (one thread: the directory checks of
:class:`~.store.safefs.SafeTree` are not made for two writers). A reader that needs a queued
file waits for its batch, which it starts if it is still filling; the last batch is
committed when the downloads are over, before the commit phase.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread

from ..store.manifest import FileEntry

__all__ = ["BATCH", "HOLD_BODY", "HOLD_LIMIT", "EarlyCommits", "Pending"]

#: files per batch: about 10 ms of disk work per trip to the thread
BATCH = 32
#: bodies up to this size may wait in memory for the thread to write them
HOLD_BODY = 256 * 1024
#: bodies wait in memory only while fewer bytes than this do (past it, as when the disk is
#: slower than the network, they are written at once on the event loop)
HOLD_LIMIT = 16 * 1024 * 1024


@dataclass(slots=True)
class Pending:
    path: str
    tmp: Path
    entry: FileEntry
    mtime: float | None
    #: the verified bytes, not yet written to ``tmp`` (the thread writes them first)
    body: tuple[bytes, ...] | None = None


class EarlyCommits:
    """Queues new files and puts them into place a batch at a time, off the event loop.

    ``commit(batch)`` does a batch's work on the worker thread (the target's: write held
    bodies and rename them into a tree, or upload them to a bucket) and returns, per file,
    the ``OSError`` that stopped it or None; ``done`` is then called on the event loop for
    each file of the batch.
    """

    def __init__(self, commit: Callable[[list[Pending]], list[OSError | None]],
                 done: Callable[[Pending, OSError | None], None], *, batch: int = BATCH,
                 threads: int = 1) -> None:
        self._commit_batch = commit
        self._done = done
        self.held = 0  # bytes of bodies queued in memory
        self._batch: list[Pending] = []
        self._event: anyio.Event | None = None
        self._waiting: dict[str, anyio.Event] = {}
        # one thread for a tree (the directory checks of SafeTree are not made for two
        # writers); a bucket takes uploads side by side
        self._thread = anyio.CapacityLimiter(threads)
        self._size = batch
        self._tg: anyio.abc.TaskGroup | None = None

    def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Batches run as tasks of ``tg`` (the run's download task group)."""
        self._tg = tg

    def queue(self, item: Pending) -> None:
        if self._event is None:
            self._event = anyio.Event()
        self._batch.append(item)
        if item.body is not None:
            self.held += item.entry.size
        self._waiting[item.path] = self._event
        if len(self._batch) >= self._size:
            self._flush()

    def pending(self, path: str) -> bool:
        return path in self._waiting

    async def wait_for(self, path: str) -> None:
        """Return once ``path``'s batch is done (starting it if it is still filling)."""
        event = self._waiting.get(path)
        if event is None:
            return
        if event is self._event:
            self._flush()
        await event.wait()

    async def finish(self) -> None:
        """Commit what is still queued (the downloads are over, the task group is closed)."""
        batch, event = self._take()
        if batch and event is not None:
            await self._commit(batch, event)

    def _take(self) -> tuple[list[Pending], anyio.Event | None]:
        batch, event = self._batch, self._event
        self._batch, self._event = [], None
        return batch, event

    def _flush(self) -> None:
        batch, event = self._take()
        if batch and event is not None:
            assert self._tg is not None
            self._tg.start_soon(self._commit, batch, event)

    async def _commit(self, batch: list[Pending], event: anyio.Event) -> None:
        try:
            # shielded until the thread is done, so every rename it made is recorded
            errors = await anyio.to_thread.run_sync(self._commit_batch, batch,
                                                    limiter=self._thread)
            for item, error in zip(batch, errors, strict=True):
                self._done(item, error)
        finally:
            for item in batch:
                self._waiting.pop(item.path, None)
                if item.body is not None:
                    self.held -= item.entry.size
                    item.body = None
            event.set()
