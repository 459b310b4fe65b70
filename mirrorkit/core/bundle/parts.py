"""Cutting one byte stream into numbered parts (hashing as it goes), and reading it back.

The writer never holds more than the caller's buffer: each slice is hashed and handed to the
destination's part output at once, so a 3.5 GiB part costs no more memory than a 1 MiB one.
The reader presents the parts as one stream without reassembling them, so an import works
straight from read-only media.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Protocol

from .toc import PartInfo, part_name

__all__ = ["PartOutput", "PartReader", "PartWriter", "TruncatedPart"]

MAX_PENDING = 8  # slices queued for the writer thread (each at most the caller's buffer)


class PartOutput(Protocol):
    """Where one part's bytes go (a file, an S3 multipart upload, or a resume check)."""

    def write(self, data: memoryview) -> None: ...
    def commit(self, size: int, sha256: str) -> None: ...
    def abort(self) -> None: ...


class PartWriter:
    """A write-only stream that becomes parts of at most ``part_size`` bytes."""

    def __init__(self, name: str, part_size: int, compression: str,
                 open_part: Callable[[str], PartOutput]) -> None:
        if part_size <= 0:
            raise ValueError("part size must be positive")
        self.name = name
        self.part_size = part_size
        self.compression = compression
        self._open_part = open_part
        self.parts: list[PartInfo] = []
        self._out: PartOutput | None = None
        # writes run on one thread (in order) while this thread hashes; commits (fsync,
        # rename, completing an upload) on another, so the next part is not held up
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="bundle-part-write")
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="bundle-part-commit")
        self._pending: deque[Future[None]] = deque()
        self._commits: list[Future[None]] = []
        self._hash = hashlib.sha256()
        self._in_part = 0
        self._total = 0

    # the file-object subset tarfile/zstandard need
    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._total

    def flush(self) -> None:
        pass

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        written = len(view)
        while view:
            if self._out is None:
                self._out = self._open_part(self._current_name())
                self._hash = hashlib.sha256()
                self._in_part = 0
            room = self.part_size - self._in_part
            piece = bytes(view[:room])  # the caller reuses its buffer
            self._pending.append(self._writer.submit(self._out.write, memoryview(piece)))
            self._hash.update(piece)
            while len(self._pending) > MAX_PENDING:
                self._pending.popleft().result()
            self._in_part += len(piece)
            self._total += len(piece)
            view = view[len(piece):]
            if self._in_part == self.part_size:
                self._finish_part()
        return written

    def close(self) -> list[PartInfo]:
        """Commit the last part, wait for every commit; returns every part written."""
        if self._out is not None:
            self._finish_part()
        try:
            for fut in self._commits:
                fut.result()
        finally:
            self._shutdown()
        return self.parts

    def abort(self) -> None:
        """Stop: drop the part being written (parts already committed stay)."""
        for fut in [*self._pending, *self._commits]:
            with contextlib.suppress(Exception):
                fut.result()
        self._pending.clear()
        if self._out is not None:
            self._out.abort()
            self._out = None
        self._shutdown()

    def _shutdown(self) -> None:
        self._writer.shutdown(wait=True)
        self._committer.shutdown(wait=True)

    def _current_name(self) -> str:
        return part_name(self.name, len(self.parts), self.compression)

    def _finish_part(self) -> None:
        assert self._out is not None
        while self._pending:
            self._pending.popleft().result()
        sha = self._hash.hexdigest()
        self._commits.append(self._committer.submit(self._out.commit, self._in_part, sha))
        for fut in self._commits:
            if fut.done():
                fut.result()  # raise a failed commit now, not at the end
        self.parts.append(PartInfo(name=self._current_name(), size=self._in_part, sha256=sha))
        self._out = None


class TruncatedPart(OSError):
    """A part ended before (or after) the size the TOC gives it."""


class PartReader(io.RawIOBase):
    """The parts of a bundle read in order as one stream, each checked for its exact size."""

    def __init__(self, parts: list[PartInfo], open_part: Callable[[str], BinaryIO]) -> None:
        super().__init__()
        self._parts = list(parts)
        self._open = open_part
        self._index = -1
        self._fh: BinaryIO | None = None
        self._left = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while True:
            if self._fh is None and not self._next_part():
                return 0
            assert self._fh is not None
            if self._left == 0:
                extra = self._fh.read(1)
                self._close_part()
                if extra:
                    raise TruncatedPart(f"{self._parts[self._index].name} is longer than its "
                                        "TOC size")
                continue
            want = min(len(view), self._left)
            data = self._fh.read(want)
            if not data:
                part = self._parts[self._index]
                raise TruncatedPart(f"{part.name} is truncated: ended "
                                    f"{self._left} bytes before its TOC size {part.size}")
            n = len(data)
            view[:n] = data
            self._left -= n
            return n

    def _next_part(self) -> bool:
        if self._index + 1 >= len(self._parts):
            return False
        self._index += 1
        part = self._parts[self._index]
        self._fh = self._open(part.name)
        self._left = part.size
        return True

    def _close_part(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        self._close_part()
        super().close()
