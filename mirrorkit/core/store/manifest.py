"""The manifest: every file the mirror holds, with its size and sha256, and the snapshot id.

It lives under ``<dest>/.mirrorkit/``; it is what makes a re-run incremental (a file that
matches its entry is never fetched again), what ``verify`` checks, and what bundles diff
against. It is always replaced atomically, and a copy per snapshot is kept for deltas.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..plan.artifact import Kind
from ..plan.paths import UnsafePathError, all_normal, validate_relpath

__all__ = [
    "CORE_STATE_PREFIX",
    "HEAD_NAME",
    "PLUGIN_STATE_PREFIX",
    "STATE_FILES_DIR",
    "FileEntry",
    "Manifest",
    "ManifestError",
    "ManifestHead",
    "atomic_write_bytes",
    "load_head",
    "load_manifest",
    "new_snapshot_id",
    "state_dir",
]

FORMAT_VERSION = 1
STATE_DIR = ".mirrorkit"
MANIFEST_NAME = "manifest.json"
#: the manifest without its blob entries, for a run that may keep its plan (load_head)
HEAD_NAME = "manifest.head.json"
SNAPSHOTS_DIR = "snapshots"
#: each kept snapshot's head, for what needs only its state refs (drop_unused_state_files)
SNAPSHOT_HEADS_DIR = "heads"
#: plugin and core state files, by sha256, under the state directory (``.mirrorkit/state``)
STATE_FILES_DIR = "state"
#: state names: the registry plugin's files (``ctx.state``) and the core's (the plan record)
PLUGIN_STATE_PREFIX = "plugin/"
CORE_STATE_PREFIX = "core/"


class ManifestError(ValueError):
    """The manifest file is unreadable or malformed."""


def state_dir(dest: Path) -> Path:
    return dest / STATE_DIR


def new_snapshot_id(now: dt.datetime | None = None) -> str:
    """Sortable, unique: ``20261121T234500Z-a1b2c3``."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass(slots=True)
class FileEntry:
    size: int
    sha256: str
    kind: Kind = Kind.BLOB
    digest: str | None = None  # "<alg>:<hex>" when upstream's algorithm is not sha256
    etag: str | None = None
    last_modified: str | None = None
    stale_since: float | None = None
    order: int = 0  # index commit order (Artifact.order), kept so sinks publish in order

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size, "sha256": self.sha256}
        if self.kind is not Kind.BLOB:
            out["kind"] = self.kind.value
        if self.order:
            out["order"] = self.order
        for key in ("digest", "etag", "last_modified", "stale_since"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: Any) -> FileEntry:
        if not isinstance(data, dict):
            raise ValueError("entry is not an object")
        size, sha = data.get("size"), data.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("size is not a non-negative integer")
        if not isinstance(sha, str) or len(sha) != 64:
            raise ValueError("sha256 is not 64 hex characters")
        if len(data) == 2:  # most entries: a blob with only these two
            return cls(size, sha)
        return cls(
            size=size,
            sha256=sha,
            kind=Kind(data.get("kind", "blob")),
            digest=data.get("digest"),
            etag=data.get("etag"),
            last_modified=data.get("last_modified"),
            stale_since=data.get("stale_since"),
            order=_int_or_zero(data.get("order")),
        )


def _int_or_zero(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("order is not an integer")
    return value


@dataclass(frozen=True, slots=True)
class StateRef:
    """One state file of the snapshot: stored once by content (``state/<sha256>``)."""

    sha256: str
    size: int


@dataclass(slots=True)
class Manifest:
    mirror: str
    snapshot: str | None = None
    registry: str | None = None
    created: str | None = None
    files: dict[str, FileEntry] = field(default_factory=dict)
    #: the state files saved with this snapshot (plugin state, the core's plan record),
    #: by name; they live beside the manifest, not in the served tree
    state: dict[str, StateRef] = field(default_factory=dict)

    def to_json(self, generation: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT_VERSION}
        if generation is not None:  # second, where a reader of the head finds it
            out["generation"] = generation
        out.update({
            "mirror": self.mirror,
            "registry": self.registry,
            "snapshot": self.snapshot,
            "created": self.created,
        })
        if self.state:
            out["state"] = self._state_json()
        out["files"] = {p: self.files[p].to_json() for p in sorted(self.files)}
        return out

    def _state_json(self) -> dict[str, Any]:
        return {name: {"sha256": ref.sha256, "size": ref.size}
                for name, ref in sorted(self.state.items())}

    def dumps(self, generation: str | None = None) -> bytes:
        return json.dumps(self.to_json(generation), separators=(",", ":")).encode()

    def stale_since_min(self) -> float | None:
        """When the oldest file only kept for its prune grace left the plan (None: none is)."""
        return min((e.stale_since for e in self.files.values() if e.stale_since is not None),
                   default=None)

    def head(self, generation: str) -> bytes:
        """What a run needs of this manifest before it knows whether it plans at all:
        everything but the blob entries (see :func:`load_head`)."""
        return json.dumps({
            "format": FORMAT_VERSION, "generation": generation, "mirror": self.mirror,
            "registry": self.registry, "snapshot": self.snapshot, "created": self.created,
            "state": self._state_json(), "count": len(self.files),
            "stale_since_min": self.stale_since_min(),
            "indexes": {p: e.to_json() for p, e in sorted(self.files.items())
                        if e.kind is not Kind.BLOB},
        }, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> Manifest:
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise ManifestError(f"{where}: not a mirrorkit manifest (format {FORMAT_VERSION})")
        files_raw = data.get("files")
        if not isinstance(files_raw, dict):
            raise ManifestError(f"{where}: 'files' is not an object")
        files: dict[str, FileEntry] = {}
        entry = FileEntry.from_json
        if all_normal(files_raw):
            # paths checked all at once when they are plain (nearly always): one by one,
            # the checks cost as much as the rest of the load
            try:
                files = {path: entry(raw) for path, raw in files_raw.items()}
            except ValueError:
                files = {}  # the loop below names the entry
        if len(files) != len(files_raw):
            for path, raw in files_raw.items():
                try:
                    files[validate_relpath(path)] = entry(raw)
                except (ValueError, UnsafePathError) as exc:
                    raise ManifestError(f"{where}: files[{path[:200]!r}]: {exc}") from None
        return cls(
            mirror=str(data.get("mirror") or ""),
            snapshot=data.get("snapshot"),
            registry=data.get("registry"),
            created=data.get("created"),
            files=files,
            state=_state_refs(data.get("state"), where),
        )

    def save(self, dest: Path, *, keep_snapshots: int = 8) -> None:
        """Write atomically, and keep a copy per snapshot for bundle deltas.

        ``keep_snapshots=0`` rewrites only the current manifest (repairs, not new snapshots).
        """
        sdir = state_dir(dest)
        generation = secrets.token_hex(8)
        payload = self.dumps(generation)
        # the head first: a reader pairs it with the manifest by generation, so a head
        # without its manifest (a kill between the two) is never used
        head = self.head(generation)
        atomic_write_bytes(sdir / HEAD_NAME, head)
        atomic_write_bytes(sdir / MANIFEST_NAME, payload)
        if self.snapshot and keep_snapshots > 0:
            snaps = sdir / SNAPSHOTS_DIR
            heads = snaps / SNAPSHOT_HEADS_DIR
            heads.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(heads / f"{self.snapshot}.json", head)
            _link_or_write(sdir / MANIFEST_NAME, snaps / f"{self.snapshot}.json", payload)
            for path in sorted(snaps.glob("*.json"))[:-keep_snapshots]:
                path.unlink(missing_ok=True)
                (heads / path.name).unlink(missing_ok=True)


def _link_or_write(current: Path, copy: Path, payload: bytes) -> None:
    """The snapshot's copy is the manifest just written, hard-linked: manifests are only
    ever replaced, never changed in place, so the link keeps this version's bytes, and a
    commit of a 400,000-file mirror does not write its 57 MB twice."""
    tmp = copy.with_name(f".{copy.name}.{secrets.token_hex(4)}.tmp")
    try:
        os.link(current, tmp)
    except OSError:  # a file system without hard links
        atomic_write_bytes(copy, payload)
        return
    os.replace(tmp, copy)


_HEX64 = frozenset("0123456789abcdef")


def _state_refs(raw: Any, where: str) -> dict[str, StateRef]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: 'state' is not an object")
    refs: dict[str, StateRef] = {}
    for name, ref in raw.items():
        sha = ref.get("sha256") if isinstance(ref, dict) else None
        size = ref.get("size") if isinstance(ref, dict) else None
        if (not isinstance(sha, str) or len(sha) != 64 or not set(sha) <= _HEX64
                or not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise ManifestError(f"{where}: state[{str(name)[:100]!r}] is not "
                                "{sha256, size}")
        refs[str(name)] = StateRef(sha, size)
    return refs


def load_manifest(dest: Path, *, snapshot: str | None = None) -> Manifest | None:
    """The current manifest (or one snapshot's), or None when the mirror has none yet."""
    sdir = state_dir(dest)
    path = sdir / SNAPSHOTS_DIR / f"{snapshot}.json" if snapshot else sdir / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise ManifestError(f"{path}: invalid JSON ({exc})") from None
    return Manifest.from_json(data, where=str(path))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp name, fsync, rename: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass(slots=True)
class ManifestHead:
    """The current manifest without its blob entries (``manifest.head.json``)."""

    mirror: str
    registry: str | None
    snapshot: str | None
    created: str | None
    state: dict[str, StateRef]
    count: int
    stale_since_min: float | None
    indexes: dict[str, FileEntry]


_GENERATION = re.compile(rb'^\{"format":1,"generation":"([0-9a-f]{16})"')


def load_head(dest: Path, *, snapshot: str | None = None) -> ManifestHead | None:
    """The head of the current manifest (or of one kept snapshot's), when it is the one
    written with it (same generation); None otherwise (no head, an older manifest, a kill
    between the two writes), and the caller loads the whole manifest."""
    sdir = state_dir(dest)
    if snapshot:
        head_path = sdir / SNAPSHOTS_DIR / SNAPSHOT_HEADS_DIR / f"{snapshot}.json"
        manifest_path = sdir / SNAPSHOTS_DIR / f"{snapshot}.json"
    else:
        head_path, manifest_path = sdir / HEAD_NAME, sdir / MANIFEST_NAME
    try:
        raw = head_path.read_bytes()
        with open(manifest_path, "rb") as fh:
            start = fh.read(64)
    except OSError:
        return None
    m = _GENERATION.match(start)
    try:
        data = json.loads(raw)
        if (m is None or not isinstance(data, dict) or data.get("format") != FORMAT_VERSION
                or data.get("generation") != m[1].decode()):
            return None
        indexes = {validate_relpath(p): FileEntry.from_json(e)
                   for p, e in data["indexes"].items()}
        count, stale = data["count"], data["stale_since_min"]
        if not isinstance(count, int) or not (stale is None or isinstance(stale, int | float)):
            return None
        return ManifestHead(mirror=str(data.get("mirror") or ""), registry=data.get("registry"),
                            snapshot=data.get("snapshot"), created=data.get("created"),
                            state=_state_refs(data.get("state"), str(head_path)),
                            count=count, stale_since_min=stale, indexes=indexes)
    except (ValueError, KeyError, TypeError, AttributeError, UnsafePathError, ManifestError):
        return None  # a damaged head only costs the whole manifest's load
