"""brew's download cache names: where brew looks for a file before (and instead of) its URL.

brew rewrites only ``https://ghcr.io/`` URLs to ``HOMEBREW_ARTIFACT_DOMAIN``; a formula's
source archive or a cask's download goes to its vendor's URL. But brew first looks in its
cache, ``$HOMEBREW_CACHE/downloads/<sha256 of the URL>--<basename>``, and when that file is
there and the URL cannot be reached it says "Already downloaded" and uses it (after checking
its sha256). A mirror that ships files under those names makes offline installs work.

The name is ``AbstractFileDownloadStrategy#cached_location`` of brew 4.3.0
(``Library/Homebrew/download_strategy.rb``), written out here: ``parse_basename`` (a
``response-content-disposition`` filename in the query wins; otherwise the last path or
query component with an extension, by brew's ``Pathname#extname``; otherwise the last path
component) and ``Utils.safe_filename`` (control characters and ``/`` removed). brew finds
the file by its ``<sha256>--`` prefix alone when it is the only one, so the basename is what
brew would write itself, not something it must match.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from urllib.parse import unquote, unquote_plus, urlsplit

__all__ = ["DOWNLOADS_DIR", "cache_name", "parse_basename"]

#: where the tree lives, in the mirror and in ``$HOMEBREW_CACHE``
DOWNLOADS_DIR = "downloads"

_SCHEME = re.compile(r"[a-zA-Z][-+.a-zA-Z0-9]*:")
_DISPOSITION = re.compile(r"attachment;\s*filename=([\"']?)(.+)\1", re.IGNORECASE)
# global.rb's HOMEBREW_BOTTLES_EXTNAME_REGEX; Ruby's $ is an end of line
_BOTTLE_EXT = re.compile(r"\.([a-z0-9_]+)\.bottle\.(?:(\d+)\.)?tar\.gz$", re.MULTILINE)
_ARCHIVE_EXT = re.compile(r"(\.(tar|cpio|pax)\.(gz|bz2|lz|xz|zst|Z))\Z")
_VERSION_TAIL = re.compile(r"\b\d+\.\d+[^.]*\Z", re.ASCII)


def _ruby_basename(path: str) -> str:
    """Ruby's ``File.basename``: trailing slashes ignored, ``/`` stays ``/``."""
    stripped = path.rstrip("/")
    if not stripped:
        return "/" if path else ""
    return stripped.rsplit("/", 1)[-1]


def extname(path: str) -> str:
    """brew's ``Pathname#extname``: bottle and ``.tar.*`` double extensions, no version."""
    base = _ruby_basename(path)
    found = _BOTTLE_EXT.search(base)
    if found:
        return found.group(0)
    found = _ARCHIVE_EXT.search(base)
    if found:
        return found.group(1)
    if _VERSION_TAIL.search(base) and not base.endswith(".7z"):
        return ""
    return os.path.splitext(base)[1]  # what Ruby's File.extname gives, dots and all


def _cgi_values(query: str, name: str) -> list[str]:
    """``CGI.parse(query)[name]``: pairs split on ``&`` or ``;``, ``+`` is a space."""
    out = []
    for pair in re.split(r"[&;]", query):
        key, sep, value = pair.partition("=")
        if sep and unquote_plus(key) == name:
            out.append(unquote_plus(value))
    return out


def parse_basename(url: str) -> str:
    """``AbstractFileDownloadStrategy#parse_basename(url)`` (with ``search_query``)."""
    if _SCHEME.match(url):
        parts = urlsplit(url)
        if parts.query:
            for value in _cgi_values(parts.query, "response-content-disposition"):
                found = _DISPOSITION.search(value)
                if found:
                    return _ruby_basename(found.group(2))
        path = [p for p in (unquote(part, errors="surrogateescape")
                            for part in parts.path.split("/")) if p.strip()]
        query = [unquote_plus(pair.partition("=")[2]) for pair in parts.query.split("&")
                 ] if parts.query else []
    else:
        path, query = [url], []
    for component in reversed([*path, *query]):
        if extname(component):
            return _ruby_basename(component)
    return _ruby_basename(path[-1]) if path and path[-1].strip() else ""


def _safe_filename(name: str) -> str:
    """``Utils.safe_filename``: control characters and the path separator removed."""
    return "".join(c for c in name if c != "/" and unicodedata.category(c) != "Cc")


def cache_name(url: str) -> str:
    """The file name brew gives the download of ``url`` in ``$HOMEBREW_CACHE/downloads/``."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
    return f"{digest}--{_safe_filename(parse_basename(url))}"
