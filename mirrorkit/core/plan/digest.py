"""Content digests: what an artifact is expected to hash to.

The core always records sha256 in the manifest, but upstreams speak other algorithms
(git names blobs by ``sha1("blob <size>\\0" + content)``), so an expected digest carries its
algorithm and a matching incremental hasher is built for it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Digest", "DigestError", "Hasher", "is_registered", "new_hasher", "register_algorithm"]


class DigestError(ValueError):
    """A digest string is malformed or names an unknown algorithm."""


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def _git_blob_sha1(size: int | None) -> Hasher:
    if size is None:
        raise DigestError("git-blob-sha1 needs the content size up front")
    h = hashlib.sha1(usedforsecurity=False)
    h.update(b"blob %d\0" % size)
    return h


_HEX_LENGTH: dict[str, int] = {"sha256": 64, "sha512": 128, "sha1": 40, "git-blob-sha1": 40,
                                "md5": 32}
_FACTORIES: dict[str, Callable[[int | None], Hasher]] = {
    "sha256": lambda _size: hashlib.sha256(),
    # only ever beside the size, or as the one checksum an old upstream record has (conda
    # packages indexed before sha256, opam archives): what upstream gives is what is checked
    "md5": lambda _size: hashlib.md5(usedforsecurity=False),
    "sha512": lambda _size: hashlib.sha512(),
    "sha1": lambda _size: hashlib.sha1(usedforsecurity=False),
    "git-blob-sha1": _git_blob_sha1,
}
_HEX = re.compile(r"[0-9a-f]+")


def register_algorithm(name: str, hex_length: int, factory: Callable[[int | None], Hasher]) -> None:
    """Let a plugin teach the core a new digest algorithm (factory gets the expected size)."""
    _HEX_LENGTH[name] = hex_length
    _FACTORIES[name] = factory


def is_registered(algorithm: str) -> bool:
    return algorithm in _FACTORIES


def new_hasher(algorithm: str, size: int | None = None) -> Hasher:
    try:
        factory = _FACTORIES[algorithm]
    except KeyError:
        raise DigestError(f"unknown digest algorithm {algorithm!r}") from None
    return factory(size)


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        if self.algorithm not in _HEX_LENGTH:
            raise DigestError(f"unknown digest algorithm {self.algorithm!r}")
        expected = _HEX_LENGTH[self.algorithm]
        if not isinstance(self.hex, str):  # from untrusted JSON: a number, a list, null
            raise DigestError(f"{self.algorithm} digest must be a string, "
                              f"got {type(self.hex).__name__}")
        if len(self.hex) != expected or not _HEX.fullmatch(self.hex):
            raise DigestError(
                f"{self.algorithm} digest must be {expected} lowercase hex characters, "
                f"got {self.hex[:80]!r}"
            )

    @classmethod
    def sha256(cls, hex_digest: str) -> Digest:
        return cls("sha256", hex_digest.lower() if isinstance(hex_digest, str) else hex_digest)

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``<algorithm>:<hex>`` (the form used in manifests and OCI)."""
        if not isinstance(text, str):
            raise DigestError(f"digest must be a string, got {type(text).__name__}")
        algorithm, sep, hex_digest = text.partition(":")
        if not sep:
            raise DigestError(f"digest {text[:80]!r} is not of the form <algorithm>:<hex>")
        return cls(algorithm, hex_digest)

    def hasher(self, size: int | None = None) -> Hasher:
        return new_hasher(self.algorithm, size)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"
