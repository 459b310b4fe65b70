"""What the plugin remembers per project between runs, in its state (``ctx.state``).

A row per project (upstream page, its serial and validators, and the dependencies read from
each distribution's metadata) in one SQLite file, read only for the projects a run plans,
so memory does not grow with the size of the index. The core saves the file with the
snapshot the run commits (beside the manifest, or in the bucket), so the rows always
describe what the mirror holds, wherever it lives.

Rows are read from the saved version, opened read only; the run's own copy
(``ctx.state.edit``) is made only when a row changes, so a run that plans from unchanged
rows copies nothing. The copy is the run's alone until the core saves it, and a failed run
saves none: no journal, no fsync. A saved file that is not a database of this format only
means the pages are asked for again. URLs are stored without credentials
(``storable_url``); a page read back gets them from the index URL of the run that reads it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mirrorkit.api import PluginState, Validators, storable_url, usable_url

from .simple import ProjectPage

__all__ = ["ProjectRows", "ProjectState"]

#: the SQLite ``user_version`` of the file; another one is a file to start again from
FORMAT = 1
DB_NAME = "projects.sqlite3"
_SCHEMA = "CREATE TABLE IF NOT EXISTS projects (name TEXT PRIMARY KEY, state TEXT NOT NULL);"
_PUT = "INSERT OR REPLACE INTO projects (name, state) VALUES (?, ?)"
#: one encoder for every row (``json.dumps`` with options builds a new one per call)
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(slots=True)
class ProjectState:
    index_url: str
    page: ProjectPage
    #: what upstream sent with the page, for the next conditional request
    validators: Validators | None = None
    #: distribution sha256 -> its Requires-Dist (None: unknown, an old sdist)
    requires: dict[str, list[str] | None] = field(default_factory=dict)
    dirty: bool = False

    def to_json(self) -> dict[str, Any]:
        page = self.page.to_json()
        for entry in page["files"]:
            entry["u"] = storable_url(entry["u"])
        v = self.validators
        return {"index_url": storable_url(self.index_url),
                "validators": [v.etag, v.last_modified] if v else None,
                "page": page, "requires": self.requires}

    @classmethod
    def from_json(cls, data: dict[str, Any], index_url: str) -> ProjectState:
        page = ProjectPage.from_json(data["page"])
        for dist in page.files:
            dist.url = usable_url(dist.url, index_url)
        v = data.get("validators")
        return cls(index_url, page, Validators(v[0], v[1]) if v else None,
                   dict(data.get("requires") or {}))


class ProjectRows:
    """The projects' rows: read from the saved file, written to the run's copy."""

    def __init__(self, state: PluginState) -> None:
        self._state = state
        self._db: sqlite3.Connection | None = None
        self._writable = False
        #: the saved file is not one to read or copy (absent, foreign, damaged)
        self._unusable = False

    async def open(self) -> None:
        saved = await self._state.path(DB_NAME)
        if saved is None:
            self._unusable = True
            return
        # the saved version never changes (the core stores it by content): no locks
        self._db = sqlite3.connect(f"file:{quote(str(saved))}?mode=ro&immutable=1", uri=True)
        try:
            if self._db.execute("PRAGMA user_version").fetchone()[0] != FORMAT:
                self._give_up()
        except sqlite3.DatabaseError:  # not a database
            self._give_up()

    def _give_up(self) -> None:
        """Rows that cannot be read: every project is asked for again, and the run's copy
        starts empty."""
        self.close()
        self._unusable = True
        self._writable = False

    def load(self, norm: str, index_url: str) -> ProjectState | None:
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT state FROM projects WHERE name = ?",
                                   (norm,)).fetchone()
        except sqlite3.DatabaseError:  # malformed past its header
            self._give_up()
            return None
        if row is None:
            return None
        try:
            data = json.loads(row[0])
            if data.get("index_url") != storable_url(index_url):
                return None  # another upstream's page
            return ProjectState.from_json(data, index_url)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            return None  # no usable row: the project is asked for again

    async def save(self, states: Iterable[tuple[str, ProjectState]]) -> None:
        rows = [(norm, _ENCODE(s.to_json())) for norm, s in states]
        if not rows:
            return
        while True:
            db = await self._writable_db()
            try:
                db.execute("BEGIN")
                db.executemany(_PUT, rows)
                db.execute("COMMIT")
                return
            except sqlite3.DatabaseError:
                if self._unusable:
                    raise  # a new, empty file: not the saved file's fault
                self._give_up()  # a copy of a damaged file: the rows go to a new one

    async def _writable_db(self) -> sqlite3.Connection:
        if self._writable:
            assert self._db is not None
            return self._db
        self.close()
        path = self._state.new_file(DB_NAME) if self._unusable else \
            await self._state.edit(DB_NAME)
        self._db = _open_copy(path)
        self._writable = True
        return self._db

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None


def _open_copy(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)  # transactions are begun explicitly
    try:
        # the run's own copy: nothing to recover after a crash (the run saves none)
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.executescript(_SCHEMA + f"PRAGMA user_version = {FORMAT};")
    except BaseException:
        db.close()
        raise
    return db
