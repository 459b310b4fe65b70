"""Where the generated pages go: kept as the previous snapshot has them, or written anew.

A re-plan renders every page again, and most come out byte for byte as mirrored. Those are
kept from the previous snapshot by digest (``ctx.keep_previous``: no file written, none
hashed by the core, nothing read from a bucket); only a page whose bytes changed is
written under the work directory and yielded as a local file for the core to copy into
place. Into a bucket, where the work directory is new each run, that is the difference
between writing and hashing two files a project and writing none.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mirrorkit.api import Artifact, Kind, PlanContext

__all__ = ["Pages"]


class Pages:
    def __init__(self, ctx: PlanContext, root: Path) -> None:
        self.ctx = ctx
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def artifacts(self, pdir: str, html: bytes, json_body: bytes, order: int) -> list[Artifact]:
        """A page in bandersnatch's three names: ``index.html`` (what a plain static server
        hands out), ``index.v1_html`` and ``index.v1_json`` (what its nginx configurations
        pick by ``Accept``); nothing to yield when the previous snapshot has them."""
        names = {f"{pdir}/index.html": html, f"{pdir}/index.v1_html": html,
                 f"{pdir}/index.v1_json": json_body}
        if self._unchanged(names) and self.ctx.keep_previous(names):
            return []
        # flat, one pair of files per project: a directory each would be one more inode
        flat = pdir.replace("/", "~")
        html_source = self.root / f"{flat}.html"
        json_source = self.root / f"{flat}.v1_json"
        _write_if_changed(html_source, html)
        _write_if_changed(json_source, json_body)
        return [Artifact.local(path, json_source if path.endswith("json") else html_source,
                               kind=Kind.INDEX, order=order) for path in names]

    def _unchanged(self, names: dict[str, bytes]) -> bool:
        prev = self.ctx.previous
        if prev is None:
            return False
        digests: dict[int, str] = {}
        for path, body in names.items():
            entry = prev.files.get(path)
            if entry is None or entry.size != len(body):
                return False
            sha = digests.get(id(body))
            if sha is None:
                sha = digests[id(body)] = hashlib.sha256(body).hexdigest()
            if entry.sha256 != sha:
                return False
        return True


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
