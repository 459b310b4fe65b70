"""What the plugin remembers per project between runs, in its work directory.

A row per project (upstream page, its serial and ETag, and the dependencies read from each
distribution's metadata) in one SQLite file, read only for the projects a run plans, so
memory does not grow with the size of the index. One file, not one per project: creating
a file is among the dearest system calls (a new inode), and on a first mirror a file per
project cost more than parsing its page. It is a cache: a row lost to a crash, or a file
that cannot be read, only means the project's page is asked for again. URLs are stored
without credentials (``storable_url``); a page read back gets them from the index URL of
the run that reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirrorkit.api import storable_url, usable_url

from .simple import ProjectPage

__all__ = ["ProjectState", "StateStore", "write_if_changed"]

#: 2: URLs stored without credentials; rows of format 1 (which could hold them) are deleted
FORMAT = 2
DB_NAME = "state.sqlite3"
_SCHEMA = ("CREATE TABLE IF NOT EXISTS projects (name TEXT PRIMARY KEY, state TEXT NOT NULL);"
           "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
_PUT_PROJECT = "INSERT OR REPLACE INTO projects (name, state) VALUES (?, ?)"
_PUT_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"
#: one encoder for every row (``json.dumps`` with options builds a new one per call)
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(slots=True)
class ProjectState:
    index_url: str
    page: ProjectPage
    etag: str | None = None
    #: distribution sha256 -> its Requires-Dist (None: unknown, an old sdist)
    requires: dict[str, list[str] | None] = field(default_factory=dict)
    dirty: bool = False

    def to_json(self) -> dict[str, Any]:
        page = self.page.to_json()
        for entry in page["files"]:
            entry["u"] = storable_url(entry["u"])
        return {"format": FORMAT, "index_url": storable_url(self.index_url),
                "etag": self.etag, "page": page, "requires": self.requires}


class StateStore:
    """The projects' rows; writes are committed by :meth:`flush` (once per batch of
    projects), and the file is opened on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.root.mkdir(parents=True, exist_ok=True)
            # a file per project before this store: their pages are asked for once again
            shutil.rmtree(self.root / "projects", ignore_errors=True)
            path = self.root / DB_NAME
            try:
                self._db = _open(path)
            except sqlite3.DatabaseError:  # not a database (a torn or foreign file)
                self._drop()
                self._db = _open(path)
        return self._db

    def _damaged(self, exc: sqlite3.Error) -> None:
        """A database that cannot be read (it is written without an fsync, so a machine
        crash can tear it) is dropped: its projects are asked for again, and the next
        writes go to a new file."""
        if type(exc) is sqlite3.DatabaseError:  # "malformed", "not a database"
            self._drop()

    def _drop(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        for name in (DB_NAME, DB_NAME + "-journal"):  # a journal left would be replayed
            (self.root / name).unlink(missing_ok=True)

    def load(self, norm: str, index_url: str) -> ProjectState | None:
        try:
            row = self._conn().execute("SELECT state FROM projects WHERE name = ?",
                                       (norm,)).fetchone()
            if row is None:
                return None
            data = json.loads(row[0])
            if data.get("format") != FORMAT or data.get("index_url") != storable_url(index_url):
                return None
            page = ProjectPage.from_json(data["page"])
            for dist in page.files:
                dist.url = usable_url(dist.url, index_url)
            return ProjectState(index_url, page, data.get("etag"),
                                dict(data.get("requires") or {}))
        except sqlite3.Error as exc:
            self._damaged(exc)
            return None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # no usable cache: the project is asked for again

    def save(self, norm: str, state: ProjectState) -> None:
        self._put(_PUT_PROJECT, norm, _ENCODE(state.to_json()))
        state.dirty = False

    def read_json(self, name: str) -> Any:
        try:
            row = self._conn().execute("SELECT value FROM meta WHERE key = ?",
                                       (name,)).fetchone()
            return json.loads(row[0]) if row is not None else None
        except sqlite3.Error as exc:
            self._damaged(exc)
            return None
        except ValueError:
            return None

    def write_json(self, name: str, data: Any) -> None:
        self._put(_PUT_META, name, _ENCODE(data))

    def _put(self, statement: str, name: str, value: str) -> None:
        try:
            db = self._conn()
            if not db.in_transaction:
                db.execute("BEGIN")
            db.execute(statement, (name, value))
        except sqlite3.Error as exc:  # not remembered: the next run asks upstream again
            self._damaged(exc)

    def flush(self) -> None:
        """Commit what was saved so far."""
        if self._db is not None and self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.commit()

    def close(self) -> None:
        if self._db is not None:
            self.flush()
            self._db.close()
            self._db = None


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)  # transactions are begun explicitly
    try:
        # a cache: no fsync per commit, and a journal file kept between commits (no new file)
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA journal_mode = TRUNCATE")
        db.executescript(_SCHEMA)
        if db.execute("PRAGMA user_version").fetchone()[0] != FORMAT:
            # written by another version (format 1 stored index URLs with their
            # credentials): emptied, and VACUUM leaves none of its bytes in the file
            db.executescript(f"DELETE FROM projects; DELETE FROM meta; VACUUM; "
                             f"PRAGMA user_version = {FORMAT};")
    except BaseException:
        db.close()
        raise
    return db


def write_atomic(path: Path, data: bytes) -> None:
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
