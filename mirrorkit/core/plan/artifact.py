"""Artifacts: the unit a registry plugin plans and the core fetches, verifies and commits."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .digest import Digest
from .paths import validate_relpath

if TYPE_CHECKING:
    from ..transport.auth import Auth

__all__ = ["Artifact", "Kind"]

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class Kind(enum.StrEnum):
    """Blobs are committed as soon as they are verified; index files only after every blob.

    An index is anything a client reads to find other files (API documents, refs, manifests):
    committing it last is what keeps clients from ever seeing a reference to a missing file.
    """

    BLOB = "blob"
    INDEX = "index"


@dataclass(frozen=True, slots=True, eq=False, init=False)
class Artifact:
    """One file of the mirror: where it goes, where it comes from, what it must hash to.

    ``url`` or ``source`` says where the bytes come from: a URL the core downloads, or a local
    file the plugin produced itself (git packs, generated files), which the core hashes and
    copies into place. ``immutable`` says the path names its content (an OCI manifest tag,
    a content-addressed file without a known digest): a file already mirrored at that path is
    kept without asking upstream again. ``order`` sorts index commits (lower first): an
    index that names other index files (an API document naming manifests) goes after them.
    ``link_to`` makes the file a hard link to another blob of the same plan (a second name
    for the same bytes, e.g. a flat download layout beside a content-addressed one): nothing
    is downloaded for it, and it is committed after every blob, before the index files.
    ``max_bytes`` caps a body of unknown size (default: 2 GiB for an index, none for a blob;
    a known ``size`` is exact). ``mirrors`` are more URLs for the same bytes, tried in order
    when ``url`` cannot give them (a 4xx, retries used up, bytes that do not verify): an opam
    archive is in upstream's cache, at its origin, and at the mirrors its package lists.
    ``also`` are more digests the bytes must have besides ``digest`` (opam lists md5, sha256
    and sha512 for one archive, and its client checks each of them).
    """

    path: str
    url: str | None = None
    digest: Digest | None = None
    size: int | None = None
    kind: Kind = Kind.BLOB
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)
    auth: Auth | None = None
    source: Path | None = None
    immutable: bool = False
    response_digest_header: str | None = None
    order: int = 0
    link_to: str | None = None
    max_bytes: int | None = None
    mirrors: tuple[str, ...] = ()
    also: tuple[Digest, ...] = ()

    def __init__(self, path: str, url: str | None = None, digest: Digest | None = None,
                 size: int | None = None, kind: Kind = Kind.BLOB,
                 headers: Mapping[str, str] = _NO_HEADERS, auth: Auth | None = None,
                 source: Path | None = None, immutable: bool = False,
                 response_digest_header: str | None = None, order: int = 0,
                 link_to: str | None = None, max_bytes: int | None = None,
                 mirrors: tuple[str, ...] = (), also: tuple[Digest, ...] = ()) -> None:
        # written out, each field set through its slot: the generated __init__ of a frozen
        # class goes through object.__setattr__, which cost nearly three times as much
        # (a plan of 400,000 packages builds 400,000 artifacts)
        (s_path, s_url, s_digest, s_size, s_kind, s_headers, s_auth, s_source, s_immutable,
         s_header, s_order, s_link_to, s_max_bytes, s_mirrors, s_also) = _SETTERS
        s_path(self, path)
        s_url(self, url)
        s_digest(self, digest)
        s_size(self, size)
        s_kind(self, kind)
        s_headers(self, headers)
        s_auth(self, auth)
        s_source(self, source)
        s_immutable(self, immutable)
        s_header(self, response_digest_header)
        s_order(self, order)
        s_link_to(self, link_to)
        s_max_bytes(self, max_bytes)
        s_mirrors(self, mirrors)
        s_also(self, also)
        if mirrors or also:
            self._check_alternatives()
        self.__post_init__()

    def __post_init__(self) -> None:
        path = validate_relpath(self.path)
        if path != self.path:
            object.__setattr__(self, "path", path)
        if self.link_to is not None:
            object.__setattr__(self, "link_to", validate_relpath(self.link_to))
            if self.url is not None or self.source is not None or self.kind is not Kind.BLOB:
                raise ValueError(f"artifact {self.path}: a link is a blob with no url or source")
            if self.link_to == self.path:
                raise ValueError(f"artifact {self.path}: cannot link to itself")
        elif (self.url is None) == (self.source is None):
            raise ValueError(f"artifact {self.path}: give exactly one of url or source")
        if self.size is not None and (not isinstance(self.size, int) or self.size < 0):
            raise ValueError(f"artifact {self.path}: size must be a non-negative integer")
        if self.max_bytes is not None and (not isinstance(self.max_bytes, int)
                                           or self.max_bytes < 0):
            raise ValueError(f"artifact {self.path}: max_bytes must be a non-negative integer")
        if self.digest and self.digest.algorithm == "git-blob-sha1" and self.size is None:
            raise ValueError(f"artifact {self.path}: a git-blob-sha1 digest needs the size")
        if not isinstance(self.headers, MappingProxyType):
            object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    def _check_alternatives(self) -> None:
        if self.url is None and self.mirrors:
            raise ValueError(f"artifact {self.path}: mirrors need a url")
        if not all(isinstance(u, str) for u in self.mirrors):
            raise ValueError(f"artifact {self.path}: mirrors must be URL strings")
        if self.also and self.digest is None:
            raise ValueError(f"artifact {self.path}: 'also' digests need a main digest")
        if not all(isinstance(d, Digest) for d in self.also):
            raise ValueError(f"artifact {self.path}: 'also' must hold Digest objects")
        object.__setattr__(self, "mirrors", tuple(self.mirrors))
        object.__setattr__(self, "also", tuple(self.also))

    @property
    def urls(self) -> tuple[str, ...]:
        """Every URL the bytes may come from, in the order they are tried."""
        return () if self.url is None else (self.url, *self.mirrors)

    @classmethod
    def blob(
        cls,
        path: str,
        url: str,
        *,
        sha256: str | None = None,
        digest: Digest | None = None,
        size: int | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Auth | None = None,
        immutable: bool = False,
        mirrors: tuple[str, ...] = (),
        also: tuple[Digest, ...] = (),
    ) -> Artifact:
        if sha256 is not None:
            digest = Digest.sha256(sha256)
        return cls(
            path, url=url, digest=digest, size=size, kind=Kind.BLOB,
            headers=headers or _NO_HEADERS, auth=auth, immutable=immutable,
            mirrors=mirrors, also=also,
        )

    @classmethod
    def index(
        cls,
        path: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: Auth | None = None,
        digest: Digest | None = None,
        immutable: bool = False,
        response_digest_header: str | None = None,
        order: int = 0,
        max_bytes: int | None = None,
    ) -> Artifact:
        return cls(
            path, url=url, digest=digest, kind=Kind.INDEX, headers=headers or _NO_HEADERS,
            auth=auth, immutable=immutable, response_digest_header=response_digest_header,
            order=order, max_bytes=max_bytes,
        )

    @classmethod
    def local(cls, path: str, source: Path, *, kind: Kind = Kind.BLOB,
              digest: Digest | None = None, order: int = 0) -> Artifact:
        return cls(path, source=Path(source), kind=kind, digest=digest, order=order)

    @classmethod
    def link(cls, path: str, target: str) -> Artifact:
        """``path`` as a hard link to the blob ``target`` (which the plan must also yield)."""
        return cls(path, link_to=target)

    @property
    def origin(self) -> str:
        if self.link_to is not None:
            return f"link:{self.link_to}"
        return self.url if self.url is not None else str(self.source)

    def __repr__(self) -> str:
        return f"Artifact({self.kind.value} {self.path!r} <- {self.origin!r})"


_SETTERS: tuple[Callable[[Artifact, Any], None], ...] = tuple(
    vars(Artifact)[f.name].__set__ for f in fields(Artifact))
