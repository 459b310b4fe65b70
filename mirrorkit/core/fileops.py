"""Local file helpers shared by the engine, verify and the sinks (no network imports)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from .plan.digest import new_hasher

__all__ = ["copy_hashing", "hash_file", "open_new", "read_whole", "set_mtime", "write_all",
           "write_chunks"]


def hash_file(path: Path | str, algorithm: str = "sha256", size: int | None = None) -> str:
    """Hash a local file in 1 MiB reads (hashlib releases the GIL, so threads scale)."""
    h = new_hasher(algorithm, size)
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def set_mtime(path: Path | str, mtime: float | None) -> None:
    if mtime is not None:
        os.utime(path, (mtime, mtime))


# A file written or read whole goes through the descriptor alone. ``open()`` adds an
# ``fstat``, an ``isatty`` ioctl and one or two ``lseek`` to every file for its buffering
# layer, which a whole-file write or read never uses: for a Homebrew tag's 885 small files
# (written on the early commits' thread, read back by the planner) that was three system
# calls in every six, each a release and re-take of the GIL.
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_UTIME_FD = os.utime in os.supports_fd


def open_new(path: Path | str) -> int:
    """A descriptor writing ``path`` from its start (created, or emptied)."""
    return os.open(path, _WRITE, 0o666)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """``os.write`` until every byte is written (a write may take part of the buffer)."""
    view = memoryview(data)
    while view:
        done = os.write(fd, view)
        if done <= 0:  # pragma: no cover (a regular file takes bytes or raises)
            raise OSError(f"write took {done} bytes")
        view = view[done:]


def write_chunks(path: Path | str, chunks: Iterable[bytes], mtime: float | None = None
                 ) -> None:
    """Write a body kept as received (joining the chunks would copy it once more), and
    give it ``mtime`` (through the open descriptor, before it is closed)."""
    fd = open_new(path)
    try:
        for data in chunks:
            write_all(fd, data)
        if mtime is not None and _UTIME_FD:
            os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)
    if mtime is not None and not _UTIME_FD:  # pragma: no cover (Linux and macOS have it)
        os.utime(path, (mtime, mtime))


def read_whole(path: Path | str, size: int | None = None) -> bytes:
    """A file's bytes (``size``, when known, is only a hint: the file is read to its end)."""
    fd = os.open(path, _READ)
    try:
        parts = []
        want = size + 1 if size is not None else 1024 * 1024
        while chunk := os.read(fd, want):
            parts.append(chunk)
            want = 1024 * 1024
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


def copy_hashing(src: Path, dst: Path, other_algorithm: str | None) -> tuple[str, str | None]:
    """Copy ``src`` to ``dst`` in one pass, returning its sha256 (and another digest)."""
    sha = hashlib.sha256()
    other = (new_hasher(other_algorithm, os.stat(src).st_size)
             if other_algorithm is not None else None)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(1024 * 1024):
            sha.update(chunk)
            if other is not None:
                other.update(chunk)
            fout.write(chunk)
    return sha.hexdigest(), other.hexdigest() if other is not None else None
