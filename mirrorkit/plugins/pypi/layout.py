"""Where files go in the mirror.

Distributions keep PyPI's own path (``packages/<aa>/<bb>/<hash>/<file>``) when upstream
serves them from one, as bandersnatch does, so a bandersnatch tree is adopted in place
(the core hashes a file already at its final path instead of downloading it). From any
other upstream the path is built the same way from the file's sha256.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from .simple import DistFile

__all__ = ["dist_path", "page_dir"]

_PYPI_PATH = re.compile(r"/packages/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{4,64})/([^/]+)$")


def dist_path(f: DistFile) -> str:
    m = _PYPI_PATH.search(urlsplit(f.url).path)
    if m and unquote(m[4]) == f.filename:
        return f"packages/{m[1]}/{m[2]}/{m[3]}/{f.filename}"
    return f"packages/{f.sha256[:2]}/{f.sha256[2:4]}/{f.sha256[4:]}/{f.filename}"


def page_dir(norm: str) -> str:
    return f"simple/{norm}"
