"""Writing the parts of an uncompressed bundle on several threads, one part per thread.

Each thread reads its part's pieces, hashes every slice right after reading it and writes it
out, all on one core: the slice is still in that core's cache when sha256 reads it. Hashing
on a thread of its own, fed from a ring of buffers, measured 0.9 s per GB against 0.58 s
(the data had to come from another core's cache), which is why the stages are not split
that way. One thread per core, up to 4: with a thread more than the cores, the last part
of a run was left to one core (a 1 GB export into 256 MiB parts took 0.80 s instead of
0.67 s on 2 cores). Parts already committed stay when another fails, as with the
sequential writer.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from .parts import PartOutput
from .tarstream import Piece, copy_piece
from .toc import PartInfo, part_name

__all__ = ["write_parts"]

SLICE = 1024 * 1024  # fits a core's L2 cache, so the hash reads what the read just wrote


class _Stopped(Exception):
    """Another part failed or the export was interrupted: this part gives up too."""


class _Hashing:
    """A part output that hashes what goes through it, and stops when told to."""

    def __init__(self, out: PartOutput, stop: threading.Event) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0
        self._stop = stop

    def write(self, data: memoryview) -> None:
        if self._stop.is_set():  # checked per slice: a part stops within 1 MiB
            raise _Stopped
        self.sha.update(data)
        self.out.write(data)
        self.size += len(data)


def _write_part(name: str, pieces: list[Piece], open_part: Callable[[str], PartOutput],
                stop: threading.Event) -> PartInfo:
    out = open_part(name)
    hashing = _Hashing(out, stop)
    try:
        buf = bytearray(SLICE)
        for piece in pieces:
            copy_piece(piece, hashing, buf)
        sha = hashing.sha.hexdigest()
        out.commit(hashing.size, sha)
    except BaseException:
        out.abort()
        raise
    return PartInfo(name=name, size=hashing.size, sha256=sha)


def default_threads() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(4, cores or 1)


def write_parts(bundle: str, parts: Iterable[list[Piece]],
                open_part: Callable[[str], PartOutput], *, threads: int | None = None
                ) -> list[PartInfo]:
    """Write every part (at most ``threads`` at once); returns them in order.

    Parts are taken from ``parts`` only as threads free up, so the pieces held in memory
    are those of the parts being written.
    """
    threads = threads or default_threads()
    done: list[PartInfo] = []
    inflight: deque[Future[PartInfo]] = deque()
    stop = threading.Event()
    with ThreadPoolExecutor(threads, thread_name_prefix="bundle-part") as pool:
        try:
            for index, pieces in enumerate(parts):
                name = part_name(bundle, index, "none")
                inflight.append(pool.submit(_write_part, name, pieces, open_part, stop))
                while len(inflight) >= threads:
                    done.append(inflight.popleft().result())
            while inflight:
                done.append(inflight.popleft().result())
        except BaseException:
            # the parts being written stop at their next slice and drop what they wrote;
            # the pool's exit then waits only for that
            stop.set()
            for fut in inflight:
                fut.cancel()
            raise
    return done
