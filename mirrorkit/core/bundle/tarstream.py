"""The tar stream of an export as a sequence of pieces, and that sequence cut into parts.

Every byte of an export is known before it is written: sorted paths, sizes from the
manifest, deterministic headers (uid/gid 0, no user names, the file's whole-second mtime).
So the stream can be described as pieces (header bytes, a range of a file, zero padding),
and the pieces of part N are known without writing parts 0 to N-1. That lets parts be
written, and above all hashed, in parallel: sha256 is the slowest step of an export (0.55 s
per GB with SHA-NI) and one part's hash cannot be split, but two parts' can run on two
cores. Pieces are produced lazily, part by part: memory grows with the files of the parts
being written (about 1 KB each), not with the tree; the export falls back to one stream
when parts would hold tens of thousands of files.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..store.manifest import FileEntry
from .errors import ExportError

__all__ = ["BLOCK", "ExportError", "Piece", "cut_into_parts", "tar_pieces"]

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE


@dataclass(frozen=True, slots=True)
class Piece:
    """``length`` bytes of the stream: ``data`` (a header), zeros, or a range of a file."""

    length: int
    data: bytes | None = None
    path: str | None = None   # full path of the file the bytes come from
    offset: int = 0           # where in that file
    file_size: int = 0        # the whole file's size, checked again when it is read
    file_id: tuple[int, int, int] = (0, 0, 0)  # (device, inode, mtime_ns), checked too

    def part(self, start: int, length: int) -> Piece:
        """The bytes ``start`` to ``start + length`` of this piece."""
        if self.data is not None:
            return Piece(length, data=self.data[start:start + length])
        if self.path is not None:
            return Piece(length, path=self.path, offset=self.offset + start,
                         file_size=self.file_size, file_id=self.file_id)
        return Piece(length)


class _Writable(Protocol):
    def write(self, data: memoryview, /) -> object: ...


def tar_pieces(dest: Path, files: Iterable[tuple[str, FileEntry]]) -> Iterator[Piece]:
    """The whole tar stream of ``files`` (relative paths under ``dest``), end blocks included.

    Each file is stat'ed as its turn comes: a file missing or of another size than the
    manifest says stops the export with the path and the way out.
    """
    offset = 0
    for path, entry in files:
        full = os.path.join(dest, path)
        try:
            st = os.stat(full)
        except FileNotFoundError:
            raise ExportError(f"{full}: missing (the manifest lists it); run mirrorkit verify "
                              f"{dest}") from None
        except OSError as exc:
            raise ExportError(f"{full}: cannot read ({exc.strerror or exc})") from None
        if st.st_size != entry.size:
            raise ExportError(f"{full}: {st.st_size} bytes on disk but {entry.size} in the "
                              f"manifest; run mirrorkit verify {dest}")
        header = _header(path, entry.size, st.st_mtime)
        yield Piece(len(header), data=header)
        if entry.size:
            yield Piece(entry.size, path=full, file_size=entry.size,
                        file_id=(st.st_dev, st.st_ino, st.st_mtime_ns))
        pad = (-entry.size) % BLOCK
        if pad:
            yield Piece(pad)
        offset += len(header) + entry.size + pad
    end = 2 * BLOCK
    end += (-(offset + end)) % RECORD
    yield Piece(end)


def cut_into_parts(pieces: Iterable[Piece], part_size: int) -> Iterator[list[Piece]]:
    """The pieces of each part in turn, splitting pieces that straddle a boundary."""
    if part_size <= 0:
        raise ValueError("part size must be positive")
    current: list[Piece] = []
    room = part_size
    for piece in pieces:
        start = 0
        while start < piece.length:
            n = min(room, piece.length - start)
            current.append(piece if n == piece.length else piece.part(start, n))
            start += n
            room -= n
            if room == 0:
                yield current
                current, room = [], part_size
    if current:
        yield current


def copy_piece(piece: Piece, out: _Writable, buf: bytearray) -> None:
    """Write one piece to ``out`` through ``buf``, re-checking the file it comes from."""
    view = memoryview(buf)
    if piece.data is not None:
        out.write(memoryview(piece.data))
        return
    if piece.path is None:
        zeros = bytes(min(piece.length, len(buf)))
        left = piece.length
        while left:
            n = min(left, len(zeros))
            out.write(memoryview(zeros)[:n])
            left -= n
        return
    try:
        fh = open(piece.path, "rb", buffering=0)  # noqa: SIM115
    except OSError as exc:
        raise ExportError(f"{piece.path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        # the same file as when its header was made: a file read in two parts (maybe by two
        # threads) must not mix an old and a new version of the same size
        st = os.fstat(fh.fileno())
        if (st.st_size != piece.file_size
                or (st.st_dev, st.st_ino, st.st_mtime_ns) != piece.file_id):
            raise ExportError(f"{piece.path}: changed while being exported")
        fh.seek(piece.offset)
        left = piece.length
        while left:
            n = fh.readinto(view[:min(left, len(buf))])
            if not n:
                raise ExportError(f"{piece.path}: shrank while being exported")
            out.write(view[:n])
            left -= n


def _header(path: str, size: int, mtime: float) -> bytes:
    info = tarfile.TarInfo(path)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o644
    info.type = tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
