"""Content-Type per published object, for clients that read it straight from S3.

A small explicit table rather than :mod:`mimetypes`: the platform's table varies between
machines, and ``mimetypes`` reports ``.tar.gz`` as a tar with gzip *encoding*, which must
never become a ``Content-Encoding`` header (clients would unpack a bottle on download and
then fail its sha256). Everything unknown is ``application/octet-stream``.
"""

from __future__ import annotations

import posixpath

__all__ = ["DEFAULT_TYPE", "content_type"]

DEFAULT_TYPE = "application/octet-stream"

_BY_SUFFIX: dict[str, str] = {
    ".json": "application/json",
    ".jws": "application/jose+json",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".xml": "application/xml",
    ".asc": "text/plain; charset=utf-8",
    ".sig": "application/pgp-signature",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
    ".zst": "application/zstd",
    ".zip": "application/zip",
    ".tar": "application/x-tar",
    ".whl": "application/zip",
    ".deb": "application/vnd.debian.binary-package",
    ".rpm": "application/x-rpm",
    ".pack": "application/x-git-packed-objects",
    ".idx": "application/x-git-packed-objects-toc",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def content_type(path: str, overrides: dict[str, str] | None = None) -> str:
    """The type for a mirror path; ``overrides`` maps suffixes (``".bottle"``) to types."""
    name = posixpath.basename(path).lower()
    for table in (overrides or {}, _BY_SUFFIX):
        # the longest matching suffix wins (".tar.gz" before ".gz" when both are given)
        for suffix in sorted(table, key=len, reverse=True):
            if name.endswith(suffix.lower()):
                return table[suffix]
    return DEFAULT_TYPE
