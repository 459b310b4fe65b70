"""What the plugin remembers per project between runs, in its work directory.

One small JSON file per project (upstream page, its serial and ETag, and the dependencies
read from each distribution's metadata), so planning reads only the projects it plans and
memory does not grow with the size of the index.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .simple import ProjectPage

__all__ = ["ProjectState", "StateStore"]

FORMAT = 1


@dataclass(slots=True)
class ProjectState:
    index_url: str
    page: ProjectPage
    etag: str | None = None
    #: distribution sha256 -> its Requires-Dist (None: unknown, an old sdist)
    requires: dict[str, list[str] | None] = field(default_factory=dict)
    dirty: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "index_url": self.index_url, "etag": self.etag,
                "page": self.page.to_json(), "requires": self.requires}


class StateStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.projects = root / "projects"

    def _path(self, norm: str) -> Path:
        return self.projects / f"{norm}.json"

    def load(self, norm: str, index_url: str) -> ProjectState | None:
        try:
            data = json.loads(self._path(norm).read_bytes())
            if data.get("format") != FORMAT or data.get("index_url") != index_url:
                return None
            return ProjectState(index_url, ProjectPage.from_json(data["page"]),
                                data.get("etag"), dict(data.get("requires") or {}))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no usable cache: the project is asked for again

    def save(self, norm: str, state: ProjectState) -> None:
        write_atomic(self._path(norm), json.dumps(state.to_json(),
                                                  separators=(",", ":")).encode())
        state.dirty = False

    def read_json(self, name: str) -> Any:
        try:
            return json.loads((self.root / name).read_bytes())
        except (OSError, ValueError):
            return None

    def write_json(self, name: str, data: Any) -> None:
        write_atomic(self.root / name, json.dumps(data, separators=(",", ":")).encode())


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_if_changed(path: Path, data: bytes) -> None:
    """Leave an identical file alone: its unchanged mtime lets the engine keep it with a stat."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except OSError:
        pass
    write_atomic(path, data)
