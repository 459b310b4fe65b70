"""Where bundles live: a directory (DVD, USB stick, diode spool) or an S3 prefix.

Both offer the same small interface, so export, import and listing never care which one
they talk to. A part appears under its final name only once it is complete, and the TOC
is written last, so a directory with a TOC holds a whole bundle.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path
from typing import BinaryIO, Protocol

from mirrorkit.core.store.manifest import atomic_write_bytes

from .parts import PartOutput
from .target_error import TargetError

__all__ = ["DirTarget", "Target", "TargetError", "open_regular", "open_target", "regular_size"]

COPY_BUFFER = 1024 * 1024
WRITEBACK_EVERY = 8 * 1024 * 1024


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
    def publish_parts(self, name: str, parts: list[str]) -> None: ...
    def end_bundle(self, name: str) -> None: ...
    def abort_bundle(self, name: str) -> None: ...


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file, never blocking on the open.

    Bundles come on media nobody here controls: a part that is a FIFO or a link to
    ``/dev/zero`` would hang a read or never end it. ``O_NOFOLLOW`` refuses a symbolic link
    as the last component, ``O_NONBLOCK`` keeps opening a FIFO from waiting for a writer,
    and ``fstat`` on the opened descriptor (not the name, which could be swapped) decides.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise TargetError(f"{path}: missing") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise TargetError(f"{path}: a symbolic link; parts and TOCs must be regular "
                              "files") from None
        raise TargetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise TargetError(f"{path}: {_kind(mode)}; parts and TOCs must be regular files")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def regular_size(path: Path) -> int | None:
    """The size of ``path`` if it is a regular file (not through a link); None if absent."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(st.st_mode):
        raise TargetError(f"{path}: {_kind(st.st_mode)}; parts and TOCs must be regular files")
    return st.st_size


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
    """A directory of bundles.

    Parts are written into ``.<bundle>.export/`` and moved beside the TOC only once every
    part is complete (:meth:`publish_parts`): a re-export of the same snapshot with another
    part size, killed half-way, leaves the earlier bundle whole, instead of its TOC beside
    new parts it does not describe. The earlier TOC is removed before the first new part
    takes its name, and the new TOC is written last, so a TOC always describes the parts
    beside it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._staging: Path | None = None

    def describe(self) -> str:
        return str(self.root)

    def names(self) -> list[str]:
        """Every entry but directories: a TOC or part that is a link or a FIFO is listed,
        so that reading it is refused by name instead of the bundle seeming absent."""
        try:
            with os.scandir(self.root) as it:
                return sorted(e.name for e in it if not e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise TargetError(f"{self.root}: not a directory") from None
        except OSError as exc:
            raise TargetError(f"{self.root}: cannot list ({exc.strerror or exc})") from None

    def size_of(self, name: str) -> int | None:
        return regular_size(self.root / name)

    def read_bytes(self, name: str) -> bytes | None:
        if regular_size(self.root / name) is None:
            return None
        try:
            with open_regular(self.root / name) as fh:
                return fh.read()
        except OSError as exc:
            raise TargetError(f"{self.root / name}: cannot read ({exc.strerror or exc})") from None

    def write_bytes(self, name: str, data: bytes) -> None:
        atomic_write_bytes(self.root / name, data)

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def open_read(self, name: str) -> BinaryIO:
        return open_regular(self.root / name)

    def begin_bundle(self, name: str, part_size: int) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TargetError(f"{self.root}: cannot create ({exc.strerror or exc})") from None
        for stale in self.root.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        staging = self.root / f".{name}.export"
        shutil.rmtree(staging, ignore_errors=True)  # what a killed export left
        try:
            staging.mkdir()
        except OSError as exc:
            raise TargetError(f"{staging}: cannot create ({exc.strerror or exc})") from None
        self._staging = staging

    def open_part(self, name: str) -> PartOutput:
        return _FilePart(self._staging or self.root, name)

    def publish_parts(self, name: str, parts: list[str]) -> None:
        """Move the finished parts beside the TOC; the earlier TOC of ``name`` goes first."""
        staging = self._staging
        if staging is None:
            return
        old_toc = self.root / (name + ".toc.json")
        if old_toc.exists() or old_toc.is_symlink():
            old_toc.unlink()
            _fsync_dir(self.root)
        for part in parts:
            os.replace(staging / part, self.root / part)
        _fsync_dir(self.root)

    def end_bundle(self, name: str) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def abort_bundle(self, name: str) -> None:
        """A failed export leaves the earlier bundle as it was, and no half-written parts."""
        self.end_bundle(name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_target(spec: str) -> Target:
    """``s3://bucket/prefix`` or a directory path."""
    if spec.startswith("s3://"):
        from .s3target import S3Target

        return S3Target.from_url(spec)
    if "://" in spec:
        raise TargetError(f"{spec}: unsupported target (use a directory or s3://bucket/prefix)")
    return DirTarget(Path(spec))
