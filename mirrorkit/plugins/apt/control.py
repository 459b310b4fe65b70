"""Debian control files (Release, Packages, Sources), read in a stream.

``Packages.xz`` of a large suite is hundreds of MB once decompressed: it is read in 1 MiB
chunks through :mod:`lzma` / :mod:`gzip`, cut into stanzas, and only the few fields a mirror
needs are pulled out of each stanza with one regular expression, so memory stays flat and a
90,000-stanza plan costs about a second.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mirrorkit.api import PlanError

__all__ = ["PoolFile", "iter_package_files", "iter_stanzas", "open_index", "package_files",
           "parse_fields", "source_files"]

_CHUNK = 1 << 20
_FIELD = re.compile(rb"^([A-Za-z0-9-]+):[ \t]*(.*(?:\n[ \t].*)*)", re.M)
_PACKAGE_FIELDS = re.compile(rb"^(Package|Filename|Size|SHA256):[ \t]*(\S*)", re.M)
_SOURCE_FIELDS = re.compile(rb"^(Package|Directory):[ \t]*(\S*)", re.M)
_SOURCE_SUMS = re.compile(rb"^Checksums-Sha256:[ \t]*\n((?:[ \t].*(?:\n|$))*)", re.M)

COMPRESSED = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open, ".lzma": lzma.open}


@dataclass(frozen=True, slots=True)
class PoolFile:
    path: str  # relative to the repository root (pool/main/h/hello/hello_1.0_amd64.deb)
    size: int
    sha256: str


def open_index(path: Path, name: str) -> IO[bytes]:
    """``path`` holds the bytes of ``name`` (its suffix picks the decompressor)."""
    for suffix, opener in COMPRESSED.items():
        if name.endswith(suffix):
            return opener(path, "rb")  # type: ignore[operator, no-any-return]
    return open(path, "rb")  # the caller closes it


def iter_stanzas(stream: IO[bytes]) -> Iterator[bytes]:
    """Stanzas separated by blank lines, without ever holding the whole file."""
    rest = b""
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        data = rest + chunk.replace(b"\r\n", b"\n")
        parts = data.split(b"\n\n")
        rest = parts.pop()
        for part in parts:
            if part.strip():
                yield part
    if rest.strip():
        yield rest


_PACKAGE_TOKENS = re.compile(rb"(\n\n)|^(Package|Filename|Size|SHA256):[ \t]*(\S*)", re.M)


def iter_package_files(stream: IO[bytes], where: str) -> Iterator[PoolFile]:
    """Each stanza's pool file, in order: one regular expression per 1 MiB of text.

    Cutting the text into stanzas first and searching each one cost twice as much at
    Ubuntu's size; here the blank lines between stanzas are tokens of the same search.
    """
    rest = b""
    while True:
        chunk = stream.read(_CHUNK)
        data = rest + chunk.replace(b"\r\n", b"\n") if chunk else rest + b"\n\n"
        cut = data.rfind(b"\n\n")
        if cut < 0:
            rest = data
            continue
        fields: dict[bytes, bytes] = {}
        for sep, name, value in _PACKAGE_TOKENS.findall(data, 0, cut + 2):
            if sep:
                if fields:
                    yield _pool_file(fields, where)
                    fields = {}
            else:
                fields[name] = value
        rest = data[cut + 2:]  # a stanza the chunk cut short waits for the next chunk
        if not chunk:
            return


def _pool_file(fields: dict[bytes, bytes], where: str) -> PoolFile:
    try:
        return PoolFile(fields[b"Filename"].decode("utf-8"), int(fields[b"Size"]),
                        fields[b"SHA256"].decode("ascii").lower())
    except KeyError as exc:
        name = fields.get(b"Package", b"?").decode("utf-8", "replace")
        raise PlanError(f"{where}: package {name} has no {exc.args[0].decode()} field") from None
    except (ValueError, UnicodeDecodeError):
        name = fields.get(b"Package", b"?").decode("utf-8", "replace")
        raise PlanError(f"{where}: package {name} has a malformed Filename, Size or "
                        "SHA256") from None


def parse_fields(stanza: bytes) -> dict[str, str]:
    """Every field of one stanza (continuation lines kept, joined by newlines)."""
    return {m.group(1).decode("ascii"): m.group(2).decode("utf-8", "replace")
            for m in _FIELD.finditer(stanza)}


def package_files(stanza: bytes, where: str) -> PoolFile:
    return _pool_file(dict((n, v) for n, v in _PACKAGE_FIELDS.findall(stanza)), where)


def source_files(stanza: bytes, where: str) -> list[PoolFile]:
    fields = dict(_SOURCE_FIELDS.findall(stanza))
    name = fields.get(b"Package", b"?").decode("utf-8", "replace")
    directory = fields.get(b"Directory")
    sums = _SOURCE_SUMS.search(stanza)
    if directory is None or sums is None:
        raise PlanError(f"{where}: source {name} has no Directory or Checksums-Sha256 field")
    out = []
    for line in sums.group(1).decode("utf-8", "replace").splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[0]) != 64:
            raise PlanError(f"{where}: source {name}: malformed Checksums-Sha256 line "
                            f"{line.strip()!r}")
        out.append(PoolFile(f"{directory.decode('utf-8').strip('/')}/{parts[2]}",
                            int(parts[1]), parts[0].lower()))
    return out
