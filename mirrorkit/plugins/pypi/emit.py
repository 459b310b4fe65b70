"""One project's part of the mirror: its files, their metadata side files, its two pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mirrorkit.api import Artifact, Kind

from .layout import dist_path, page_dir
from .render import MirroredFile, project_html, project_json
from .simple import DistFile

__all__ = ["dist_artifact", "metadata_artifact", "page_artifacts", "project_artifacts"]

#: pages of a project name files; the root names pages: it is committed after them
PAGE_ORDER = 0
ROOT_ORDER = 1


def dist_artifact(f: DistFile, path: str | None = None) -> Artifact:
    """``path``: the file's :func:`dist_path` when the caller has it already."""
    return Artifact.blob(path or dist_path(f), f.url, sha256=f.sha256, size=f.size)


def metadata_artifact(f: DistFile, dist: str | None = None) -> Artifact:
    """The PEP 658 side file; one offered without a hash is kept once mirrored (a
    distribution's metadata never changes), its sha256 recorded by the core."""
    path, url = (dist or dist_path(f)) + ".metadata", f.url + ".metadata"
    if f.metadata_sha256:
        return Artifact.blob(path, url, sha256=f.metadata_sha256)
    return Artifact.blob(path, url, immutable=True)


def project_artifacts(name: str, norm: str, files: list[DistFile], serial: int | None,
                      pages_root: Path) -> Iterator[Artifact]:
    """Files first, then the pages naming them (written into ``pages_root`` if changed)."""
    mirrored: list[MirroredFile] = []
    seen: set[str] = set()
    for f in files:
        if f.filename in seen:
            continue
        seen.add(f.filename)
        path = dist_path(f)
        yield dist_artifact(f, path)
        if f.metadata_sha256 is not None:
            yield metadata_artifact(f, path)
        mirrored.append(MirroredFile(f, path, f.metadata_sha256 is not None))
    pdir = page_dir(norm)
    yield from page_artifacts(pdir, project_html(name, pdir, mirrored),
                              project_json(name, pdir, mirrored, serial), pages_root,
                              PAGE_ORDER)


def page_artifacts(pdir: str, html: bytes, json_body: bytes, pages_root: Path,
                   order: int) -> Iterator[Artifact]:
    """A page in bandersnatch's three names: ``index.html`` (what a plain static server
    hands out), ``index.v1_html`` and ``index.v1_json`` (what its nginx configurations pick
    by ``Accept``)."""
    # flat, one pair of files per project: a directory each would be one more inode to make
    flat = pdir.replace("/", "~")
    html_source = pages_root / f"{flat}.html"
    json_source = pages_root / f"{flat}.v1_json"
    _write_if_changed(html_source, html)
    _write_if_changed(json_source, json_body)
    for filename, source in (("index.html", html_source), ("index.v1_html", html_source),
                             ("index.v1_json", json_source)):
        yield Artifact.local(f"{pdir}/{filename}", source, kind=Kind.INDEX, order=order)


def _write_if_changed(path: Path, data: bytes) -> None:
    """Leave an identical file alone: its unchanged modification time lets the core keep
    the mirrored copy with a stat. A plain write: the core reads the file once, after the
    plan, and copies it into place itself."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except OSError:
        pass
    path.write_bytes(data)
