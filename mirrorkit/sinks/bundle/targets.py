"""Where bundles live: a directory (DVD, USB stick, diode spool) or an S3 prefix.

Both offer the same small interface, so export, import and listing never care which one
they talk to. A part appears under its final name only once it is complete, and the TOC
is written last, so a directory with a TOC holds a whole bundle.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO, Protocol

from mirrorkit.core.manifest import atomic_write_bytes

from .parts import PartOutput

__all__ = ["DirTarget", "Target", "TargetError", "open_target"]

COPY_BUFFER = 1024 * 1024
WRITEBACK_EVERY = 8 * 1024 * 1024


class TargetError(Exception):
    """The target cannot be read or written; the message names it."""


class Target(Protocol):
    def describe(self) -> str: ...
    def names(self) -> list[str]: ...
    def size_of(self, name: str) -> int | None: ...
    def read_bytes(self, name: str) -> bytes | None: ...
    def write_bytes(self, name: str, data: bytes) -> None: ...
    def delete(self, name: str) -> None: ...
    def open_read(self, name: str) -> BinaryIO: ...
    def begin_bundle(self, name: str, part_size: int) -> None: ...
    def open_part(self, name: str) -> PartOutput: ...
    def end_bundle(self, name: str) -> None: ...


class _FilePart:
    """One part written to ``.<name>.tmp`` and renamed into place once complete and synced.

    Writeback is started every :data:`WRITEBACK_EVERY` bytes (``POSIX_FADV_DONTNEED`` on
    what the kernel already holds), so the disk works while the export still reads and
    hashes, and the fsync before the rename only waits for the tail: without it, the whole
    part stayed dirty in memory until that fsync (measured on a 1 GB export: 0.3 s of
    waiting out of 1.05 s). Pages still dirty when advised are written back, not dropped.
    """

    def __init__(self, root: Path, name: str) -> None:
        self.final = root / name
        self.tmp = root / f".{name}.tmp"
        self._fh = open(self.tmp, "wb", buffering=COPY_BUFFER)  # noqa: SIM115
        self._written = 0
        self._flushed = 0  # bytes handed to writeback so far

    def write(self, data: memoryview) -> None:
        self._fh.write(data)
        self._written += len(data)
        # the last COPY_BUFFER bytes may still be in the Python-level buffer
        upto = self._written - COPY_BUFFER
        if upto - self._flushed >= WRITEBACK_EVERY and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self._fh.fileno(), self._flushed, upto - self._flushed,
                             os.POSIX_FADV_DONTNEED)
            self._flushed = upto

    def commit(self, size: int, sha256: str) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        self._fh.close()
        self.tmp.unlink(missing_ok=True)


class DirTarget:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def names(self) -> list[str]:
        try:
            return sorted(p.name for p in self.root.iterdir() if p.is_file())
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise TargetError(f"{self.root}: not a directory") from None
        except OSError as exc:
            raise TargetError(f"{self.root}: cannot list ({exc.strerror or exc})") from None

    def size_of(self, name: str) -> int | None:
        try:
            st = os.stat(self.root / name)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise TargetError(f"{self.root / name}: cannot read ({exc.strerror or exc})") from None

    def write_bytes(self, name: str, data: bytes) -> None:
        atomic_write_bytes(self.root / name, data)

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def open_read(self, name: str) -> BinaryIO:
        try:
            return open(self.root / name, "rb", buffering=0)
        except FileNotFoundError:
            raise TargetError(f"{self.root / name}: missing") from None

    def begin_bundle(self, name: str, part_size: int) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TargetError(f"{self.root}: cannot create ({exc.strerror or exc})") from None
        for stale in self.root.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()

    def open_part(self, name: str) -> PartOutput:
        return _FilePart(self.root, name)

    def end_bundle(self, name: str) -> None:
        pass


def open_target(spec: str) -> Target:
    """``s3://bucket/prefix`` or a directory path."""
    if spec.startswith("s3://"):
        from .s3target import S3Target

        return S3Target.from_url(spec)
    if "://" in spec:
        raise TargetError(f"{spec}: unsupported target (use a directory or s3://bucket/prefix)")
    return DirTarget(Path(spec))
