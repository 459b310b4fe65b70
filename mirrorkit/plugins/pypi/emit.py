"""One project's part of the mirror: its files, their metadata side files, its two pages."""

from __future__ import annotations

from collections.abc import Iterator

from mirrorkit.api import Artifact

from .layout import dist_path, page_dir
from .pages import Pages
from .render import MirroredFile, project_html, project_json
from .simple import DistFile

__all__ = ["dist_artifact", "metadata_artifact", "project_artifacts"]

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
                      pages: Pages) -> Iterator[Artifact]:
    """Files first, then the pages naming them (unless the previous snapshot has them)."""
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
    yield from pages.artifacts(pdir, project_html(name, pdir, mirrored),
                               project_json(name, pdir, mirrored, serial), PAGE_ORDER)
