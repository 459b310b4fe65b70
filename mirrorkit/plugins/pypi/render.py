"""The mirror's own simple index: PEP 503 HTML and PEP 691 JSON for the files it holds.

Pages are written, not copied, because the mirror holds a selection: a page must name
exactly the files committed beside it, linked relatively so any static server (or a copy
moved to another host) serves it. The JSON names follow bandersnatch (``index.v1_json``),
so web server configurations written for a bandersnatch tree serve this one.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from html import escape
from typing import Any

from .simple import DistFile

__all__ = ["MirroredFile", "project_html", "project_json", "root_html", "root_json"]


@dataclass(frozen=True, slots=True)
class MirroredFile:
    """A file of a project page: upstream's facts plus where the mirror keeps it."""

    dist: DistFile
    path: str              # the distribution's path in the mirror (packages/...)
    has_metadata: bool     # a ``<path>.metadata`` side file is mirrored beside it


def _href(page_dir: str, path: str) -> str:
    """``path`` relative to the page's directory; pages (``simple/``) and files
    (``packages/``) never share a top directory, so it is one string join per file."""
    if path.partition("/")[0] != page_dir.partition("/")[0]:
        return "../" * (page_dir.count("/") + 1) + path
    return posixpath.relpath(path, page_dir)


def project_html(name: str, page_dir: str, files: list[MirroredFile]) -> bytes:
    lines = ["<!DOCTYPE html>", "<html>", "  <head>",
             '    <meta name="pypi:repository-version" content="1.1">',
             f"    <title>Links for {escape(name)}</title>", "  </head>", "  <body>",
             f"    <h1>Links for {escape(name)}</h1>"]
    for f in files:
        d = f.dist
        attrs = [f'href="{escape(_href(page_dir, f.path))}#sha256={d.sha256}"']
        if d.requires_python:
            attrs.append(f'data-requires-python="{escape(d.requires_python)}"')
        if d.yanked is not False:
            reason = d.yanked if isinstance(d.yanked, str) else ""
            attrs.append(f'data-yanked="{escape(reason)}"')
        if f.has_metadata:
            value = f"sha256={d.metadata_sha256}" if d.metadata_sha256 else "true"
            attrs.append(f'data-dist-info-metadata="{value}"')
            attrs.append(f'data-core-metadata="{value}"')
        lines.append(f"    <a {' '.join(attrs)}>{escape(d.filename)}</a><br/>")
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode()


def project_json(name: str, page_dir: str, files: list[MirroredFile],
                 serial: int | None) -> bytes:
    with_sizes = all(f.dist.size is not None for f in files)
    meta: dict[str, Any] = {"api-version": "1.1" if with_sizes else "1.0"}
    if serial is not None:
        meta["_last-serial"] = serial
    out_files: list[dict[str, Any]] = []
    versions: set[str] = set()
    for f in files:
        d = f.dist
        item: dict[str, Any] = {
            "filename": d.filename, "url": _href(page_dir, f.path),
            "hashes": {"sha256": d.sha256},
            "requires-python": d.requires_python,
            "yanked": d.yanked,
        }
        if f.has_metadata:
            value: Any = {"sha256": d.metadata_sha256} if d.metadata_sha256 else True
            item["core-metadata"] = value
            item["dist-info-metadata"] = value
        else:
            item["core-metadata"] = False
            item["dist-info-metadata"] = False
        if d.size is not None:
            item["size"] = d.size
        if d.upload_time is not None:
            item["upload-time"] = d.upload_time
        out_files.append(item)
    body: dict[str, Any] = {"meta": meta, "name": name, "files": out_files}
    if with_sizes:
        from .versions import file_version

        for f in files:
            v = file_version(f.dist.filename)
            if v is not None:
                versions.add(str(v))
        from packaging.version import Version

        body["versions"] = sorted(versions, key=Version)
    return json.dumps(body, separators=(",", ":")).encode()


def root_html(projects: list[tuple[str, str]]) -> bytes:
    """``projects``: (display name, normalised name), sorted by normalised name."""
    lines = ["<!DOCTYPE html>", "<html>", "  <head>",
             '    <meta name="pypi:repository-version" content="1.1">',
             "    <title>Simple index</title>", "  </head>", "  <body>"]
    lines += [f'    <a href="{escape(norm)}/">{escape(display)}</a><br/>'
              for display, norm in projects]
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode()


def root_json(projects: list[tuple[str, str, int | None]], serial: int | None) -> bytes:
    meta: dict[str, Any] = {"api-version": "1.1"}
    if serial is not None:
        meta["_last-serial"] = serial
    items = []
    for display, _norm, s in projects:
        item: dict[str, Any] = {"name": display}
        if s is not None:
            item["_last-serial"] = s
        items.append(item)
    return json.dumps({"meta": meta, "projects": items}, separators=(",", ":")).encode()
