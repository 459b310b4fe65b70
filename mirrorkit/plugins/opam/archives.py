"""Source archives as cache files: one blob per archive, a hard link per other checksum.

An opam client asks the repository's archive mirror (``cache/``) for the path of the
**first-listed** checksum of a source, then checks **every** listed checksum. So each
archive is stored at the cache path of every checksum any package lists for it, as
opam.ocaml.org does: the bytes once, the other paths hard links to them.

Packages share archives (one tarball for a family of packages), and list different sets of
checksums for them (``md5`` here, ``sha256`` and ``sha512`` there). Checksums that are
listed together name one archive, so they are grouped (union-find): one blob, verified
against every checksum of its group while it streams, and a link for each other path. Two
different digests of one algorithm in a group would mean one listing is wrong: that group is
left out and reported, since no bytes can satisfy both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from mirrorkit.api import Artifact, Digest

from .opamfile import Source, fetchable, plain_url, source_kind

__all__ = ["ArchivePlan", "Skipped"]

log = logging.getLogger("mirrorkit.registry.opam")

#: the digest the blob is recorded under: sha256 when listed (the manifest's own, so an
#: unchanged archive is recognised without reading it), then the stronger of the others
_PREFERENCE = ("sha256", "sha512", "md5")
_VCS = frozenset(("git", "hg", "darcs"))


@dataclass(slots=True)
class Skipped:
    """Sources the mirror cannot hold, by reason, as ``package label`` strings."""

    no_checksum: list[str] = field(default_factory=list)
    vcs: list[str] = field(default_factory=list)
    other_scheme: list[str] = field(default_factory=list)
    no_url: list[str] = field(default_factory=list)
    conflicting: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {key: len(getattr(self, key)) for key in self.__slots__}


class ArchivePlan:
    """The cache files of a set of package versions.

    ``cache_dir`` is where the archives go in the mirror (``cache``); ``upstream_caches``
    are the archive mirrors upstream's ``repo`` file names, asked first.
    """

    def __init__(self, cache_dir: str, upstream_caches: list[str]) -> None:
        self.cache_dir = cache_dir
        self.upstream_caches = upstream_caches
        self.skipped = Skipped()
        self.archives = 0
        self.paths: set[str] = set()
        self.kept_unreferenced = 0  # cache files of the previous snapshot no package lists
        self._sources: list[tuple[str, Source]] = []
        self._parent: dict[tuple[str, str], tuple[str, str]] = {}

    def add(self, package: str, source: Source) -> None:
        """Take one source of ``package`` (``name.version``), or count it as skipped."""
        where = f"{package} {source.label}"
        kind = source_kind(source.src) if source.src is not None else "http"
        if kind != "http":
            (self.skipped.vcs if kind in _VCS else self.skipped.other_scheme).append(where)
            log.info("skipped %s: %s source %s (not an archive)", where, kind, source.src)
            return
        if not source.checksums:
            self.skipped.no_checksum.append(where)
            log.info("skipped %s: no checksum (%s)", where, source.src or "no src")
            return
        keys = [(c.algorithm, c.hex.lower()) for c in source.checksums]
        for key in keys[1:]:
            self._union(keys[0], key)
        self._find(keys[0])
        self._sources.append((package, source))

    def _find(self, key: tuple[str, str]) -> tuple[str, str]:
        parent = self._parent
        root = parent.setdefault(key, key)
        while root != parent[root]:
            root = parent[root]
        while key != root:  # path compression
            parent[key], key = root, parent[key]
        return root

    def _union(self, a: tuple[str, str], b: tuple[str, str]) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self._parent[rb] = ra

    def artifacts(self) -> Iterator[Artifact]:
        """A blob per archive and a link per other cache path, groups in listing order."""
        groups: dict[tuple[str, str], list[tuple[str, Source]]] = {}
        for package, source in self._sources:
            first = source.checksums[0]
            groups.setdefault(self._find((first.algorithm, first.hex.lower())), []).append(
                (package, source))
        for members in groups.values():
            yield from self._group(members)

    def _group(self, members: list[tuple[str, Source]]) -> Iterator[Artifact]:
        hexes: dict[str, set[str]] = {}
        paths: dict[str, None] = {}  # ordered: the first source's first checksum first
        for _, source in members:
            for c in source.checksums:
                hexes.setdefault(c.algorithm, set()).add(c.hex.lower())
                paths.setdefault(f"{self.cache_dir}/{c.cache_path}")
        clash = next((a for a, found in hexes.items() if len(found) > 1), None)
        if clash is not None:
            names = sorted({f"{p} {s.label}" for p, s in members})
            self.skipped.conflicting.extend(names)
            log.warning("skipped %s: they list different %s checksums for one archive",
                        ", ".join(names), clash)
            return
        digests = [Digest(a, next(iter(hexes[a]))) for a in _PREFERENCE if a in hexes]
        ordered = list(paths)
        urls: dict[str, None] = {}
        for base in self.upstream_caches:
            for path in ordered:
                urls.setdefault(f"{base}/{path.removeprefix(self.cache_dir + '/')}")
        for _, source in members:
            if source.src is not None and fetchable(source.src):
                urls.setdefault(plain_url(source.src))
        for _, source in members:
            for mirror in source.mirrors:
                if fetchable(mirror):
                    urls.setdefault(plain_url(mirror))
        if not urls:
            names = sorted({f"{p} {s.label}" for p, s in members})
            self.skipped.no_url.extend(names)
            log.info("skipped %s: no URL the mirror can download from", ", ".join(names))
            return
        first, *rest = urls
        primary = ordered[0]
        self.archives += 1
        self.paths.update(ordered)
        yield Artifact.blob(primary, first, digest=digests[0], also=tuple(digests[1:]),
                            mirrors=tuple(rest))
        for path in ordered[1:]:
            yield Artifact.link(path, primary)
