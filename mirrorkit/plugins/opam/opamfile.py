"""What the mirror needs from a package's ``opam`` file: its sources and its dependencies.

Sources are the ``url { }`` section and each ``extra-source "name" { }`` section (an
``url`` file beside ``opam``, the opam 1.2 layout that opam 2 still reads, counts as the
``url`` section). ``extra-files`` need nothing: they live in the index, under ``files/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .syntax import Field, List, Section, Value, parse_file, top_sections

__all__ = ["Checksum", "OpamFileError", "PackageFile", "Source", "read_checksum",
           "read_opam", "read_sources", "source_kind"]

_HEX = re.compile(r"[0-9a-fA-F]+")
#: the algorithms opam knows (OpamHash), with the length of their hex digest
HASH_LENGTHS = {"md5": 32, "sha256": 64, "sha512": 128}
#: url transports opam fetches as a plain download (``OpamUrl`` without a ``+vcs`` prefix)
_HTTP = frozenset(("http", "https", "ftp", "ftps"))
_FETCHABLE = frozenset(("http", "https"))


class OpamFileError(ValueError):
    """A value opam would not accept where it is (a checksum that is not one, a url that
    is not a string); the message names the field."""


@dataclass(frozen=True, slots=True)
class Checksum:
    algorithm: str  # md5, sha256, sha512
    hex: str  # as written (opam builds the cache path from it); compare with .lower()

    @property
    def cache_path(self) -> str:
        """Where opam looks for the archive under an archive mirror (``cache/`` + this)."""
        return f"{self.algorithm}/{self.hex[:2]}/{self.hex}"


@dataclass(frozen=True, slots=True)
class Source:
    """One archive a package version needs: its ``url`` or one of its ``extra-source``."""

    label: str  # "url" or 'extra-source "name"'
    src: str | None
    checksums: tuple[Checksum, ...]
    mirrors: tuple[str, ...]


@dataclass(slots=True)
class PackageFile:
    sources: list[Source]
    depends: Value | None
    depopts: Value | None


def read_checksum(text: str) -> Checksum:
    """``md5=<hex>``, ``sha256=<hex>``, ``sha512=<hex>``, or a bare md5 (opam 1.2)."""
    algorithm, sep, hexdigest = text.partition("=")
    if not sep:
        algorithm, hexdigest = "md5", text
    expected = HASH_LENGTHS.get(algorithm)
    if expected is None:
        raise OpamFileError(f"checksum {text[:80]!r}: unknown hash algorithm {algorithm!r}")
    if len(hexdigest) != expected or not _HEX.fullmatch(hexdigest):
        raise OpamFileError(f"checksum {text[:80]!r} is not {expected} hex characters")
    return Checksum(algorithm, hexdigest)


def source_kind(url: str) -> str:
    """``"http"`` for an archive opam downloads, else what it is (``git``, ``file``...).

    As opam reads a url from a file: ``git+https://`` and ``git://`` are git, a
    ``.git`` suffix on an https URL is not (opam guesses from suffixes only on its
    command line).
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        return "path"
    vcs, plus, transport = scheme.partition("+")
    if plus:
        return "http" if vcs == "http" and transport in _HTTP else vcs
    return "http" if scheme in _HTTP else scheme


def fetchable(url: str) -> bool:
    """Whether the core can download ``url`` (opam's ``http+https://`` form included)."""
    return url.partition("://")[0].removeprefix("http+") in _FETCHABLE


def plain_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme.removeprefix('http+')}{sep}{rest}"


def _strings(value: Value, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, List) and all(isinstance(v, str) for v in value.items):
        return tuple(str(v) for v in value.items)
    raise OpamFileError(f"{what} is not a string or a list of strings")


def _fields(items: tuple[Field | Section, ...]) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for item in items:
        if isinstance(item, Field):
            out.setdefault(item.name, item.value)
    return out


def _source(label: str, items: tuple[Field | Section, ...]) -> Source:
    fields = _fields(items)
    src: str | None = None
    # "src" in opam 2; "archive", "http" and the VCS names are what opam 1.2 wrote
    for key in ("src", "archive", "http", "git", "hg", "darcs", "local"):
        if key in fields:
            value = fields[key]
            if not isinstance(value, str):
                raise OpamFileError(f"{label}: {key} is not a string")
            src = value if key in ("src", "archive", "http") else f"{key}+{value}"
            if key == "local":
                src = f"file://{value}"
            break
    checksums = tuple(read_checksum(c) for c in _strings(fields["checksum"], f"{label}: "
                                                         "checksum")
                      ) if "checksum" in fields else ()
    mirrors = _strings(fields["mirrors"], f"{label}: mirrors") if "mirrors" in fields else ()
    return Source(label, src, checksums, mirrors)


_SOURCE_SECTIONS = frozenset(("url", "extra-source"))


def _sources(sections: list[Section] | tuple[Field | Section, ...],
             url_file: str | None) -> list[Source]:
    sources: list[Source] = []
    has_url = False
    for item in sections:
        if isinstance(item, Section):
            if item.kind == "url":
                has_url = True
                sources.append(_source("url", item.items))
            elif item.kind == "extra-source":
                sources.append(_source(f"extra-source {item.name or ''!r}", item.items))
    if not has_url and url_file is not None:
        try:
            sources.insert(0, _source("url file", parse_file(url_file)))
        except ValueError as exc:
            raise OpamFileError(f"url file: {exc}") from None
    return sources


def read_sources(text: str, url_file: str | None = None) -> list[Source]:
    """The sources of an ``opam`` file, reading only its ``url`` and ``extra-source``.

    What a whole mirror needs of each of the repository's files; the rest of the file is
    checked token by token (a file that does not lex, or whose brackets do not balance, is
    parsed whole, which reports the error's line).
    """
    sections = top_sections(text, _SOURCE_SECTIONS)
    if sections is None:
        return read_opam(text, url_file).sources
    return _sources(sections, url_file)


def read_opam(text: str, url_file: str | None = None) -> PackageFile:
    """The sources and dependency formulas of an ``opam`` file (and its ``url`` file).

    Raises :class:`~.syntax.OpamSyntaxError` or :class:`OpamFileError`.
    """
    items = parse_file(text)
    fields = _fields(items)
    return PackageFile(_sources(items, url_file), fields.get("depends"), fields.get("depopts"))
