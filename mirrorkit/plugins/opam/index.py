"""``index.tar.gz``: reading upstream's, and writing a selective mirror's own.

The index is what an opam 2 client fetches over HTTP, and all it fetches of the repository:
``opam admin index`` writes it as ``tar czhf index.tar.gz version packages repo``, so it holds
the ``repo`` file and one directory per package version (``packages/NAME/NAME.VERSION/``
with ``opam`` and optionally ``files/``). opam finds package directories at any depth
under ``packages/``: a directory named ``NAME.VERSION`` that holds an ``opam`` file.

A selective mirror's index is upstream's with only the selected versions' directories (and
the directories above them): each kept member's records are copied byte for byte, in
upstream's order, so the client reads exactly upstream's files with upstream's names,
modes, owners and times; and the same selection of the same upstream index always gives the
same bytes (gzip without a timestamp or a name).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .tarindex import BLOCK, Member, TarFormatError, members

__all__ = ["Catalog", "IndexFormatError", "VersionDir", "decompress", "minimal_urls_txt",
           "read_index", "write_index"]

_NAME = re.compile(r"[A-Za-z0-9_+-]+")
_VERSION = re.compile(r"[A-Za-z0-9_+.~-]+")
#: the uncompressed index may hold this much (opam-repository's: about 50 MB)
MAX_UNCOMPRESSED = 512 << 20
#: GNU tar pads an archive to a whole record of 20 blocks
RECORD = 20 * BLOCK


class IndexFormatError(ValueError):
    """The file is not an opam index (not gzip, not tar, too large); one line."""


@dataclass(slots=True)
class VersionDir:
    """One package version of the index: its directory and its ``opam`` file's bytes."""

    name: str
    version: str
    path: str  # e.g. packages/foo/foo.1.0
    opam: bytes
    url: bytes | None = None  # an opam 1.2 ``url`` file beside ``opam``

    @property
    def label(self) -> str:
        return f"{self.name}.{self.version}"


@dataclass(slots=True)
class Catalog:
    versions: list[VersionDir] = field(default_factory=list)  # in the index's order
    by_name: dict[str, list[VersionDir]] = field(default_factory=dict)
    repo: bytes | None = None
    repo_mode: int = 0o644


def decompress(data: bytes) -> bytes:
    """The tar archive inside ``index.tar.gz``, at most :data:`MAX_UNCOMPRESSED` bytes."""
    out = zlib.decompressobj(wbits=47)  # gzip or zlib header
    try:
        raw = out.decompress(data, MAX_UNCOMPRESSED + 1)
    except zlib.error as exc:
        raise IndexFormatError(f"not a gzip file ({exc})") from None
    if len(raw) > MAX_UNCOMPRESSED:
        raise IndexFormatError(f"holds more than {MAX_UNCOMPRESSED >> 20} MiB")
    if not out.eof:
        raise IndexFormatError("truncated gzip data")
    if out.unused_data.strip(b"\0"):  # more gzip members after the first
        try:
            raw += gzip.decompress(out.unused_data)
        except (OSError, EOFError, zlib.error) as exc:
            raise IndexFormatError(f"not a gzip file ({exc})") from None
        if len(raw) > MAX_UNCOMPRESSED:
            raise IndexFormatError(f"holds more than {MAX_UNCOMPRESSED >> 20} MiB")
    return raw


def _split_package(dirname: str) -> tuple[str, str] | None:
    name, dot, version = dirname.partition(".")
    if dot and _NAME.fullmatch(name) and _VERSION.fullmatch(version):
        return name, version
    return None


def _normal(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def _members(raw: bytes) -> Iterator[Member]:
    try:
        yield from members(raw)
    except TarFormatError as exc:
        raise IndexFormatError(f"not a tar archive ({exc})") from None


def read_index(raw: bytes) -> Catalog:
    """The package versions of an (uncompressed) index, with their ``opam`` bytes."""
    opam: dict[str, bytes] = {}
    urls: dict[str, bytes] = {}
    catalog = Catalog()
    for member in _members(raw):
        if not member.isfile:
            continue
        name = _normal(member.name)
        if name == "repo":
            catalog.repo = bytes(member.data)
            catalog.repo_mode = member.mode & 0o777
        elif name.startswith("packages/"):
            if name.endswith("/opam"):
                opam[name[:-5]] = bytes(member.data)
            elif name.endswith("/url"):
                urls[name[:-4]] = bytes(member.data)
    found: set[str] = set()
    for directory, text in opam.items():
        parsed = _split_package(directory.rsplit("/", 1)[-1])
        if parsed is None or any(a in found for a in _ancestors(directory)):
            continue
        found.add(directory)
        vd = VersionDir(parsed[0], parsed[1], directory, text, urls.get(directory))
        catalog.versions.append(vd)
        catalog.by_name.setdefault(vd.name, []).append(vd)
    return catalog


def _ancestors(path: str) -> Iterator[str]:
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        yield path


def _kept(name: str, selected: Collection[str], parents: Collection[str]) -> bool:
    if name.startswith("/") or ".." in name.split("/"):
        return False
    if name == "packages" or name in parents:
        return True
    if not name.startswith("packages/"):
        return True  # repo, version
    return name in selected or any(a in selected for a in _ancestors(name))


def write_index(raw: bytes, selected: Collection[str], target: Path) -> None:
    """Write ``target``: the index ``raw`` with only the ``selected`` version directories.

    The same selection gives the same bytes (gzip without a timestamp), so the core keeps
    the mirrored copy when nothing changed; it copies the file into place atomically.
    """
    chosen = set(selected)
    parents = {a for path in chosen for a in _ancestors(path)}
    parts = [raw[m.start:m.end] for m in _members(raw)
             if _kept(_normal(m.name), chosen, parents)]
    body = b"".join(parts) + bytes(2 * BLOCK)
    body += bytes(-len(body) % RECORD)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out, gzip.GzipFile(filename="", mode="wb", fileobj=out,
                                                 mtime=0, compresslevel=6) as gz:
        gz.write(body)


def minimal_urls_txt(repo: bytes, mode: int) -> bytes:
    """``urls.txt`` as ``opam admin index`` writes it by default: only the ``repo`` file.

    Only opam before 2.0 reads it (to find the ``repo`` file's redirect).
    """
    md5 = hashlib.md5(repo, usedforsecurity=False).hexdigest()
    return f"repo\t{md5}\t{mode}\n".encode()
