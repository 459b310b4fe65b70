"""State a plugin keeps between runs, saved by the target together with the snapshot.

A plugin's caches (which bottles a manifest names, the validators of a private index, the
rows of a project database) used to be files each plugin wrote under its work directory, in
six formats with six "ignore if unreadable" rules, and they were lost whenever the mirror
lived in a bucket. Now a plugin names its files (``ctx.state``), the core stores each by
content beside the manifest (``.mirrorkit/state/<sha256>`` in a tree, the same key in a
bucket) and the manifest names them, so a snapshot and its state change in the same
atomic step: the state a run reads is always the one saved with the snapshot it starts from.

Reads are of the saved version; writes make the next version, which the target saves with
the snapshot the run commits. A run that fails changes nothing but the blobs it verified
(the mirror stays as it was), so its state is not saved either; nor is a dry run's.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..store.manifest import PLUGIN_STATE_PREFIX, StateRef

__all__ = ["PluginState", "RunState", "state_name"]

log = logging.getLogger("mirrorkit.state")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def state_name(name: str) -> str:
    """A plugin's state file name, checked: letters, digits, ``.``, ``_``, ``-``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"state file name {name!r}: use letters, digits, '.', '_' and '-' "
                         "(at most 128, not starting with a dot)")
    return name


class PluginState(abc.ABC):
    """``ctx.state``: files a plugin keeps between runs, saved with the snapshot.

    Names are plain file names (``coverage.json``). Reading gives the version saved with the
    previous snapshot (None when there is none); writing makes the version this run saves.
    JSON files carry a ``version`` the plugin chooses: a file written with another version,
    or one that does not parse, reads as None, so a plugin never needs its own format check.
    Never store credentials here (a URL with a password or a token): state is as durable as
    the mirror and travels where it goes.
    """

    @abc.abstractmethod
    async def path(self, name: str) -> Path | None:
        """A local file holding the saved version (read only), or None."""

    async def read_bytes(self, name: str) -> bytes | None:
        path = await self.path(name)
        return path.read_bytes() if path is not None else None

    async def read_json(self, name: str, *, version: int) -> Any:
        """The saved value, or None (missing, unreadable, or another ``version``)."""
        data = await self.read_bytes(name)
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        if not isinstance(doc, dict) or doc.get("version") != version or "value" not in doc:
            return None
        return doc["value"]

    @abc.abstractmethod
    def new_file(self, name: str) -> Path:
        """A path to write this run's version of ``name`` into (it starts absent); whatever
        is there at the end of the run is saved."""

    @abc.abstractmethod
    async def edit(self, name: str) -> Path:
        """Like :meth:`new_file`, but starting as a copy of the saved version (a database
        the plugin updates in place)."""

    def write_bytes(self, name: str, data: bytes) -> None:
        self.new_file(name).write_bytes(data)

    def write_json(self, name: str, value: Any, *, version: int) -> None:
        self.write_bytes(name, json.dumps({"version": version, "value": value},
                                          separators=(",", ":")).encode())

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Save no version of ``name`` with this snapshot."""


Reader = Callable[[str], Awaitable[Path | None]]


class RunState(PluginState):
    """The state of one run: the saved refs, a reader for their bytes (the target's), and a
    directory for the new versions (in the run's staging)."""

    def __init__(self, saved: dict[str, StateRef], read: Reader, scratch: Path, *,
                 prefix: str = PLUGIN_STATE_PREFIX) -> None:
        self._saved = saved
        self._read = read
        self._scratch = scratch
        self._prefix = prefix
        self._paths: dict[str, Path] = {}
        self._new: dict[str, Path] = {}
        self._deleted: set[str] = set()

    def _key(self, name: str) -> str:
        return self._prefix + state_name(name)

    async def path(self, name: str) -> Path | None:
        key = self._key(name)
        if key in self._paths:
            return self._paths[key]
        ref = self._saved.get(key)
        if ref is None:
            return None
        path = await self._read(ref.sha256)
        if path is None:
            log.warning("state file %s (%s) is missing; the plugin starts without it", key,
                        ref.sha256)
            return None
        self._paths[key] = path
        return path

    def new_file(self, name: str) -> Path:
        key = self._key(name)
        self._scratch.mkdir(parents=True, exist_ok=True)
        path = self._scratch / key.replace("/", "~")
        path.unlink(missing_ok=True)
        self._new[key] = path
        self._deleted.discard(key)
        return path

    async def edit(self, name: str) -> Path:
        saved = await self.path(name)
        path = self.new_file(name)
        if saved is not None:
            shutil.copyfile(saved, path)
        return path

    def delete(self, name: str) -> None:
        key = self._key(name)
        self._new.pop(key, None)
        self._deleted.add(key)

    def scoped(self, prefix: str) -> RunState:
        """The same run's state under another prefix (the core's own files)."""
        other = RunState(self._saved, self._read, self._scratch, prefix=prefix)
        other._paths, other._new, other._deleted = self._paths, self._new, self._deleted
        return other

    @property
    def changed(self) -> bool:
        return bool(self._new or self._deleted & self._saved.keys())

    def finish(self) -> tuple[dict[str, StateRef], dict[str, Path]]:
        """The refs to save with the snapshot, and the new files by sha256 to store first."""
        refs = {k: v for k, v in self._saved.items() if k not in self._deleted}
        files: dict[str, Path] = {}
        for key, path in self._new.items():
            if not path.exists():
                refs.pop(key, None)
                continue
            sha = _sha256_of(path)
            refs[key] = StateRef(sha, os.stat(path).st_size)
            files[sha] = path
        return refs, files


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
