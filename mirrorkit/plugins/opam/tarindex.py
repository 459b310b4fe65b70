"""The members of an uncompressed tar archive, read straight from its headers.

The standard library's ``tarfile`` builds a ``TarInfo`` per member through its
file-object layer: 1.6 s for the 43,000 members of opam-repository's index, a third of
the planning budget. The index needs only each member's name, type and data, so this
reads the 512-byte headers directly (0.1 s): POSIX ustar names with their prefix, GNU
long names (``L``) and pax ``path`` records (``x``). The first header's checksum is
checked, which catches a file that is not a tar archive; the rest is covered by the CRC of
the gzip stream around it. Each member also gives the span of its records (its long
name or pax records included), so a selective index copies upstream's members byte for
byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["BLOCK", "Member", "TarFormatError", "members"]

BLOCK = 512
_ZERO = bytes(BLOCK)


class TarFormatError(ValueError):
    """Not a tar archive, or a truncated one."""


@dataclass(slots=True)  # not frozen: its __init__ would go through object.__setattr__
class Member:
    name: str
    type: bytes  # b"0" file, b"5" directory, b"2" symlink...
    mode: int
    data: memoryview  # the member's content (empty but for files)
    start: int  # where its first record (long name, pax header or header) begins
    end: int  # after its last data block

    @property
    def isfile(self) -> bool:
        return self.type in (b"0", b"\0", b"7")


def _number(field: bytes, where: int) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256, for sizes past 8 GiB
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise TarFormatError(f"bad number in the tar header at offset {where}") from None


def _pax_path(data: bytes) -> str | None:
    path = None
    pos = 0
    while pos < len(data):
        length_text, _, _ = data[pos:pos + 20].partition(b" ")
        try:
            length = int(length_text)
        except ValueError:
            return path
        record = data[pos:pos + length]
        key, _, value = record[len(length_text) + 1:].rstrip(b"\n").partition(b"=")
        if key == b"path":
            path = value.decode("utf-8", "surrogateescape")
        pos += max(length, 1)
    return path


def members(raw: bytes) -> Iterator[Member]:
    """Every member of the archive ``raw``, in order; TarFormatError on a broken one."""
    view = memoryview(raw)
    pos, size = 0, len(raw)
    long_name: str | None = None
    start = 0
    while pos + BLOCK <= size:
        header = raw[pos:pos + BLOCK]
        if header == _ZERO:
            return
        if pos == 0:  # is it a tar archive at all? (gzip's CRC covers the rest)
            stored = _number(header[148:156], pos)
            if sum(header) - sum(header[148:156]) + 8 * 32 != stored:
                raise TarFormatError("bad header checksum at offset 0")
        length = _number(header[124:136], pos)
        kind = header[156:157]
        data_at = pos + BLOCK
        end = data_at + (length + BLOCK - 1) // BLOCK * BLOCK
        if end > size:
            raise TarFormatError(f"truncated member at offset {pos}")
        if long_name is None:
            start = pos
        if kind == b"L":  # GNU: the next member's name
            long_name = raw[data_at:data_at + length].split(b"\0", 1)[0].decode(
                "utf-8", "surrogateescape")
            pos = end
            continue
        if kind == b"x":  # pax: this one's attributes for the next member
            long_name = _pax_path(raw[data_at:data_at + length]) or ""
            pos = end
            continue
        if kind == b"g":  # pax global header: nothing opam uses
            pos = end
            start = end
            continue
        if long_name:
            name = long_name
        else:
            name = header[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if header[257:263] == b"ustar\0" and header[345:346] != b"\0":
                prefix = header[345:500].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                name = f"{prefix}/{name}"
        long_name = None
        if kind == b"5":  # a directory's name ends with "/": without it, as tarfile reads it
            name = name.rstrip("/")
        mode = _number(header[100:108], pos)
        data = view[data_at:data_at + length] if kind in (b"0", b"\0", b"7") else view[0:0]
        yield Member(name, kind, mode, data, start, end)
        pos = end
    if pos < size and raw[pos:].strip(b"\0"):
        raise TarFormatError(f"truncated header at offset {pos}")
