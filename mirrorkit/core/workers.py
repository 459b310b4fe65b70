"""Download worker processes: receiving, hashing and writing on every core.

A run's Python event loop tops out at one core: about 0.2 ms of aiohttp CPU per request and
0.35 s per GB received (0.65 ms and 1.1 s when bodies went through httpx), on top of the run's
own bookkeeping of about 0.4 ms per file. Opt-in (``workers``, default 0: on two cores the
pipe round trip per file cost more than it saved), a :class:`WorkerPool` moves the network
part of blob downloads into worker processes (each its own event loop and
:class:`~mirrorkit.core.downloader.Downloader`), while the run's process keeps planning,
deciding, committing and writing the manifest. The global and per-host limits are split
between the workers (each enforces its share, so a queued job starts the moment a download
ends, without a round trip); the run's process assigns every staging path and gets back the
verified result: ``(sha256, size, etag, last_modified)`` or the error. Retries,
``Retry-After``, size caps and digest checks are the worker's Downloader's, unchanged.

Workers never outlive the run: each asks the kernel for SIGKILL when its parent dies
(``PR_SET_PDEATHSIG``), exits when its command pipe reaches EOF, and is joined (then
killed) before the run's staging directory is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import multiprocessing.connection
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio

from .artifact import Artifact, Kind
from .digest import Digest
from .downloader import Downloader, DownloadSettings, FetchResult
from .registry import FetchError

__all__ = ["WorkerLost", "WorkerPool", "offloadable"]

log = logging.getLogger("mirrorkit.workers")

# Byte counts for the progress bar are sent at most this often per worker.
PROGRESS_INTERVAL = 0.1
_PR_SET_PDEATHSIG = 1


class WorkerLost(Exception):
    """The worker died with the job in flight; the caller downloads it in-process instead."""


def offloadable(art: Artifact) -> bool:
    """A plain URL download: no ``httpx.Auth`` (its token state lives in this process)."""
    return art.url is not None and art.auth is None and art.source is None


@dataclass(frozen=True, slots=True)
class _Job:
    """What a worker needs to download one artifact: plain data, cheap to pickle."""

    id: int
    path: str
    url: str
    target: str
    headers: dict[str, str]
    digest: str | None
    size: int | None
    kind: str
    immutable: bool
    response_digest_header: str | None
    etag: str | None
    last_modified: str | None

    def artifact(self) -> Artifact:
        return Artifact(
            self.path, url=self.url, digest=Digest.parse(self.digest) if self.digest else None,
            size=self.size, kind=Kind(self.kind), headers=self.headers,
            immutable=self.immutable, response_digest_header=self.response_digest_header,
        )


@dataclass(slots=True)
class _Pending:
    done: anyio.Event = field(default_factory=anyio.Event)
    reply: tuple[Any, ...] | None = None


@dataclass(slots=True)
class _Worker:
    proc: subprocess.Popen[bytes]
    conn: multiprocessing.connection.Connection
    pending: dict[int, _Pending] = field(default_factory=dict)
    alive: bool = True


class WorkerPool:
    """Worker processes that download blobs into the staging paths the run assigns."""

    def __init__(self, settings: DownloadSettings, count: int, *,
                 on_bytes: Any = None) -> None:
        self.settings = settings
        self.count = count
        self._on_bytes = on_bytes or (lambda n: None)
        self._workers: list[_Worker] = []
        self._ids = itertools.count(1)
        self.ready = False
        self._ready_or_dead = anyio.Event()
        self.jobs = 0

    def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the processes now (from the loop's thread: see ``_set_pdeathsig``)."""
        s = self.settings
        # the run's limits are split between the workers (each enforces its share), so a
        # worker starts its next queued download the moment one ends, without a round trip
        self.count = min(self.count, s.concurrency, s.per_host)
        for i in range(self.count):
            wsettings = replace(s, concurrency=_share(s.concurrency, self.count, i),
                                per_host=_share(s.per_host, self.count, i))
            # a plain subprocess, not multiprocessing: nothing of the parent's __main__ is
            # re-imported, and no resource-tracker process is started
            here, there = socket.socketpair()
            proc = subprocess.Popen(
                [sys.executable, "-c", _ENTRY, str(there.fileno()), str(os.getpid())],
                pass_fds=(there.fileno(),), stdin=subprocess.DEVNULL,
            )
            there.close()
            conn = multiprocessing.connection.Connection(here.detach())
            # the worker logs at the run's level; its records come back to the run's handlers
            level = logging.getLogger("mirrorkit").getEffectiveLevel()
            conn.send_bytes(pickle.dumps((wsettings, level)))
            worker = _Worker(proc, conn)
            self._workers.append(worker)
            tg.start_soon(self._read, worker)

    async def _read(self, worker: _Worker) -> None:
        """Replies and progress from one worker, until it exits.

        A reader callback stays registered with the event loop for the worker's lifetime
        (asyncio, which ``anyio.run`` uses here): per wake-up, ``anyio.wait_readable`` would
        register and unregister the pipe with epoll again, for every file.
        """
        conn = worker.conn
        fd = conn.fileno()
        gone = anyio.Event()
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                while conn.poll():
                    self._handle(worker, conn.recv())
            except (EOFError, OSError):
                loop.remove_reader(fd)
                gone.set()

        loop.add_reader(fd, readable)
        try:
            await gone.wait()
        finally:
            loop.remove_reader(fd)
            worker.alive = False
            if not any(w.alive for w in self._workers):
                self._ready_or_dead.set()
            for pending in worker.pending.values():
                pending.done.set()  # no reply: WorkerLost
            worker.pending.clear()

    def _handle(self, worker: _Worker, msg: tuple[Any, ...]) -> None:
        if msg[0] == "bytes":
            self._on_bytes(msg[1])
        elif msg[0] == "log":  # a worker's record, re-emitted here (JSON logs, -v)
            logging.getLogger(msg[1]).log(msg[2], "%s", msg[3])
        elif msg[0] == "ready":
            self.ready = True
            self._ready_or_dead.set()
        else:
            if msg[-1]:
                self._on_bytes(msg[-1])
            pending = worker.pending.pop(msg[1], None)
            if pending is not None:
                pending.reply = msg
                pending.done.set()

    async def wait_ready(self) -> None:
        """Until one worker is up (or every one has died)."""
        await self._ready_or_dead.wait()

    async def download(self, art: Artifact, target: Path, *, etag: str | None = None,
                       last_modified: str | None = None) -> FetchResult:
        """Like :meth:`Downloader.download`, in a worker. Raises FetchError, OSError or
        :class:`WorkerLost` (then nothing is left at ``target``)."""
        assert art.url is not None
        live = [w for w in self._workers if w.alive]
        if not live:
            raise WorkerLost
        worker = min(live, key=lambda w: len(w.pending))
        job = _Job(next(self._ids), art.path, art.url, str(target), dict(art.headers),
                   str(art.digest) if art.digest else None, art.size, art.kind.value,
                   art.immutable, art.response_digest_header, etag, last_modified)
        pending = worker.pending[job.id] = _Pending()
        self.jobs += 1
        try:
            worker.conn.send(job)
            await pending.done.wait()
        except BaseException:
            if worker.pending.pop(job.id, None) is not None and worker.alive:
                with contextlib.suppress(OSError):
                    worker.conn.send(("cancel", job.id))
            raise
        reply = pending.reply
        if reply is None:
            target.unlink(missing_ok=True)
            raise WorkerLost
        kind = reply[0]
        if kind == "ok":
            return FetchResult(*reply[2])
        if kind == "fetch":
            raise FetchError(*reply[2])
        if kind == "os":
            errno_, strerror, filename = reply[2]
            raise OSError(errno_, strerror, filename)
        raise FetchError(art.path, art.url, f"download worker failed: {reply[2]}")

    async def aclose(self) -> None:
        """Stop every worker (jobs still in flight are cancelled) and wait until they exit."""
        for w in self._workers:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        deadline = time.monotonic() + 10
        with anyio.CancelScope(shield=True):
            for w in self._workers:
                try:
                    await anyio.to_thread.run_sync(
                        w.proc.wait, max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    w.proc.kill()
                    await anyio.to_thread.run_sync(w.proc.wait)
                w.conn.close()


class _PipeLogHandler(logging.Handler):
    """Sends a worker's log records to the run, which hands them to its own handlers."""

    def __init__(self, conn: multiprocessing.connection.Connection) -> None:
        super().__init__()
        self._conn = conn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._conn.send(("log", record.name, record.levelno, record.getMessage()))
        except Exception:
            self.handleError(record)


def _share(total: int, parts: int, index: int) -> int:
    """Worker ``index``'s part of a limit: the parts add up to ``total``."""
    return total // parts + (1 if index < total % parts else 0)


# ----------------------------------------------------------------- worker side
def _set_pdeathsig() -> None:
    """SIGKILL this process when its parent dies (Linux), so no worker outlives a killed run.

    The kernel sends it when the *thread* that forked us exits: the pool is started from the
    run's event-loop thread, which lives as long as the run.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


_ENTRY = "import sys; from mirrorkit.core.workers import worker_main; worker_main(sys.argv[1:])"


def worker_main(argv: list[str]) -> None:
    """A worker process's entry point: ``<fd of its socket> <pid of the run>``."""
    _set_pdeathsig()
    if os.getppid() != int(argv[1]):  # the parent died before the line above took effect
        os._exit(1)
    conn = multiprocessing.connection.Connection(int(argv[0]))
    settings, level = pickle.loads(conn.recv_bytes())
    logging.getLogger().addHandler(_PipeLogHandler(conn))
    logging.getLogger("mirrorkit").setLevel(level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle
    try:
        anyio.run(_serve, conn, settings)
    finally:
        conn.close()


async def _serve(conn: multiprocessing.connection.Connection,
                 settings: DownloadSettings) -> None:
    counted = [0]

    def on_bytes(n: int) -> None:
        counted[0] += n

    scopes: dict[int, anyio.CancelScope] = {}

    async def flush_progress() -> None:
        while True:
            await anyio.sleep(PROGRESS_INTERVAL)
            if counted[0]:
                conn.send(("bytes", counted[0]))
                counted[0] = 0

    async def run_job(job: _Job, dl: Downloader) -> None:
        with anyio.CancelScope() as scope:
            scopes[job.id] = scope
            try:
                reply: tuple[Any, ...]
                try:
                    r = await dl.download(job.artifact(), Path(job.target), etag=job.etag,
                                          last_modified=job.last_modified)
                    reply = ("ok", job.id, (r.sha256, r.size, r.etag, r.last_modified,
                                            r.not_modified))
                except FetchError as exc:
                    reply = ("fetch", job.id, (exc.path, exc.url, exc.reason))
                except OSError as exc:
                    reply = ("os", job.id, (exc.errno, exc.strerror, exc.filename))
                except Exception as exc:  # a bug: reported, not a dead worker
                    reply = ("error", job.id, f"{type(exc).__name__}: {exc}")
                # the bytes not yet reported ride along with the reply: one message per file
                conn.send((*reply, counted[0]))
                counted[0] = 0
            finally:
                scopes.pop(job.id, None)

    async with Downloader(settings, on_bytes=on_bytes) as dl, anyio.create_task_group() as tg:
        tg.start_soon(flush_progress)
        conn.send(("ready",))
        stop = anyio.Event()
        loop = asyncio.get_running_loop()
        fd = conn.fileno()

        def readable() -> None:
            try:
                while conn.poll():
                    msg = conn.recv()
                    if msg is None:
                        stop.set()
                        return
                    if isinstance(msg, _Job):
                        tg.start_soon(run_job, msg, dl)
                    elif msg[0] == "cancel" and msg[1] in scopes:
                        scopes[msg[1]].cancel()
            except (EOFError, OSError):  # the run is gone
                stop.set()
            if stop.is_set():
                loop.remove_reader(fd)

        loop.add_reader(fd, readable)
        try:
            await stop.wait()
        finally:
            loop.remove_reader(fd)
            tg.cancel_scope.cancel()
