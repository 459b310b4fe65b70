"""``mirrorkit import``: verify a bundle's parts, then apply it to a mirror all-or-nothing.

Order of events, each a gate for the next: every part's size and sha256 is checked (all
problems reported together) and the delta's base is compared with the snapshot DEST holds,
before DEST is touched. Then, under the mirror lock, the tar is read across the parts in
place and every member is checked (regular files only, safe paths, listed in the TOC, no
duplicates, right size and sha256) while it is extracted into staging. Only when the whole
bundle is staged is it committed, as a changeset through the local store, in the commit
order every mirror write shares (:mod:`mirrorkit.core.store.apply`): blobs, index files,
deletions, the new manifest. Any failure before the commit removes staging and leaves DEST
as it was. The new file set is checked before anything is extracted (no path both a file
and a directory, a delta deletes only files of its base), and the tree before anything is
written (no symlinked directory, nothing in the way).

A commit killed half-way is completed by importing the same bundle again: the base is
still the current manifest (deltas), or ``.mirrorkit/import.json`` names the bundle whose
commit began in what was an empty directory (a first full import).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from ..fetch.staging import Staging, clean_stale_staging
from ..plan.paths import UnsafePathError, validate_relpath
from ..store import PathConflict, Put, apply_changeset, build_changeset
from ..store.changeset import check_path_set
from ..store.local import LocalStore, StoreRefused
from ..store.lock import MirrorLock, MirrorLocked
from ..store.manifest import (
    SNAPSHOTS_DIR,
    STATE_DIR,
    FileEntry,
    Manifest,
    ManifestError,
    atomic_write_bytes,
    load_manifest,
    new_snapshot_id,
    state_dir,
)
from ..store.safefs import UnsafeDestination
from .catalog import BundleCatalog, import_chain, verify_parts
from .errors import ImportError_
from .parts import PartReader, TruncatedPart
from .targets import Target
from .toc import FileInfo, Toc, tree_digest
from .tocread import TocSummary

__all__ = ["ImportError_", "ImportOutcome", "apply_bundle", "import_bundle", "plan_import"]

log = logging.getLogger("mirrorkit.bundle.import")

READ_BUFFER = 1024 * 1024
MAX_REPORTED = 50
JOURNAL = "import.json"  # under .mirrorkit/: the bundle whose commit began in an empty DEST


@dataclass
class ImportOutcome:
    toc: Toc
    files: int
    bytes: int
    removed: int

    def summary(self, dest: Path) -> str:
        kind = f"delta since {self.toc.base}" if self.toc.base else "full"
        return (f"imported {self.toc.name} ({kind}): {self.files} files "
                f"({self.bytes / 1e6:.1f} MB), removed {self.removed}; {dest} is at snapshot "
                f"{self.toc.snapshot}")


def plan_import(catalog: BundleCatalog, dest: Path) -> list[TocSummary]:
    """The bundles to apply to ``dest`` in order (none: it is at the newest already); raises
    :class:`ImportError_` with a clear reason when none fits."""
    try:
        current = load_manifest(dest) if dest.is_dir() else None
    except ManifestError as exc:
        raise ImportError_([str(exc)]) from None
    if catalog.explicit:
        return list(catalog.tocs)
    mirror = current.mirror if current is not None else None
    tocs = catalog.for_mirror(mirror or None)
    if not tocs:
        where = catalog.target.describe()
        extra = f" for mirror {mirror!r}" if mirror else ""
        raise ImportError_([f"{where}: no bundles{extra}", *catalog.problems])
    if mirror is None and len({t.mirror for t in tocs}) > 1:
        names = ", ".join(sorted({t.mirror for t in tocs}))
        raise ImportError_([f"{catalog.target.describe()}: bundles of several mirrors "
                            f"({names}); give the path of one .toc.json"])
    at = current.snapshot if current is not None else None
    chain = import_chain(tocs, at)
    if chain:
        return chain
    newest = max(t.snapshot for t in tocs)
    if at is not None and (at == newest or _held_before(dest, newest)):
        return []  # the mirror is at (or was at, and moved past) the newest bundle's snapshot
    bases = ", ".join(sorted({t.base or "none (full)" for t in tocs}))
    raise ImportError_([
        f"{dest} holds snapshot {at or 'none (empty)'}, and no bundle in "
        f"{catalog.target.describe()} applies to it (their bases: {bases}); import the "
        "missing bundles first, or a full bundle"
    ])


def _held_before(dest: Path, snapshot: str) -> bool:
    """Whether ``dest`` was once at ``snapshot`` (its manifest is among the kept ones)."""
    return (state_dir(dest) / SNAPSHOTS_DIR / f"{snapshot}.json").is_file()


def import_bundle(catalog: BundleCatalog, bundle: TocSummary, dest: Path) -> ImportOutcome:
    """Load one bundle of ``catalog``, check it fits on DEST's disk, verify and apply it.

    DEST is unchanged unless this returns. Raises a :class:`~.errors.BundleError` (an
    :class:`ImportError_` lists every problem found; ``in_use`` when another command holds
    the mirror) or ``OSError``.
    """
    try:
        toc = catalog.load(bundle)
        room = _room_problem(dest, toc)
        if room:
            raise ImportError_([room])
        return apply_bundle(catalog.target, toc, dest)
    except MirrorLocked as exc:
        raise ImportError_([str(exc)], in_use=True) from None
    except ManifestError as exc:
        raise ImportError_([str(exc)]) from None


def _room_problem(dest: Path, toc: Toc) -> str | None:
    """A bundle whose new files do not fit on DEST's disk is refused before any is staged."""
    need = sum(f.size for f in toc.files)
    probe = dest
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return None
    if need > free:
        return (f"{dest}: {toc.name} needs {need} bytes for its files, only {free} are free "
                "there; nothing was written")
    return None


def apply_bundle(target: Target, toc: Toc, dest: Path) -> ImportOutcome:
    """Verify and apply one bundle; DEST is unchanged unless this returns."""
    problems = verify_parts(target, toc)
    current = _current(dest)
    problems += _base_problems(toc, current, dest)
    if problems:
        raise ImportError_(problems)
    undo = _Undo(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with MirrorLock(dest, f"mirrorkit import {toc.name}", role="import"):
            clean_stale_staging(dest)
            current = _current(dest)  # again, now that no run can change it
            problems = _base_problems(toc, current, dest)
            if problems:
                raise ImportError_(problems)
            files = _new_files(toc, current)
            try:
                check_path_set(files, where=f"{toc.name}")
            except PathConflict as exc:
                raise ImportError_([f"{exc}; import refused, {dest} is unchanged"]) from None
            digest = tree_digest((p, e.size, e.sha256) for p, e in files.items())
            if len(files) != toc.tree_files or digest != toc.tree_sha256:
                raise ImportError_([
                    f"{dest}: applying {toc.name} would not give the exporter's snapshot "
                    f"{toc.snapshot} (the files of {dest} differ from its base); import a "
                    "full bundle"
                ])
            staging = Staging(dest, "import-" + new_snapshot_id())
            staging.create()
            try:
                staged = _extract(target, toc, staging)
                manifest = Manifest(
                    mirror=toc.mirror, registry=toc.registry, snapshot=toc.snapshot,
                    created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), files=files)
                changes = build_changeset(
                    current.files if current is not None else {}, manifest,
                    [Put(s.info.path, files[s.info.path], s.tmp, s.mtime)
                     for s in staged.values()], where=toc.name)
                store = LocalStore(staging)
                try:
                    store.preflight(changes)
                except StoreRefused as exc:
                    raise ImportError_([f"{toc.name}: {p}" for p in exc.problems]) from None
                except UnsafeDestination as exc:
                    raise ImportError_([f"{toc.name}: {exc}"]) from None
                undo.committing = True
                journal = dest / STATE_DIR / JOURNAL
                if current is None:
                    atomic_write_bytes(journal, json.dumps(
                        {"bundle": toc.name, "snapshot": toc.snapshot}).encode())
                removed = apply_changeset(changes, store)
                journal.unlink(missing_ok=True)
                log.info("imported %s: %d files committed, %d removed", toc.name,
                         len(staged), removed)
            finally:
                staging.remove()
    except BaseException:
        undo.run()
        raise
    undo.done()
    return ImportOutcome(toc=toc, files=len(toc.files), bytes=sum(f.size for f in toc.files),
                         removed=removed)


class _Undo:
    """Remove what a failed import created in DEST (the lock file, staging, DEST itself)."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.dest_existed = dest.exists()
        self.state_existed = (dest / STATE_DIR).exists()
        self.lock_existed = (dest / STATE_DIR / "lock").exists()
        self.tmp_existed = (dest / STATE_DIR / "tmp").exists()
        self.committing = False

    def run(self) -> None:
        if self.committing:
            return  # a commit that failed half-way is repaired by importing again
        state = self.dest / STATE_DIR
        if not self.dest_existed:
            shutil.rmtree(self.dest, ignore_errors=True)
        elif not self.state_existed:
            shutil.rmtree(state, ignore_errors=True)
        else:
            if not self.tmp_existed:
                shutil.rmtree(state / "tmp", ignore_errors=True)
            if not self.lock_existed:
                with contextlib.suppress(OSError):
                    (state / "lock").unlink()

    def done(self) -> None:
        if not self.tmp_existed:
            with contextlib.suppress(OSError):
                (self.dest / STATE_DIR / "tmp").rmdir()


def _current(dest: Path) -> Manifest | None:
    if not dest.is_dir():
        return None
    try:
        return load_manifest(dest)
    except ManifestError as exc:
        raise ImportError_([str(exc)]) from None


def _base_problems(toc: Toc, current: Manifest | None, dest: Path) -> list[str]:
    held = current.snapshot if current is not None else None
    if current is not None and current.mirror and current.mirror != toc.mirror:
        return [f"{toc.name} is a bundle of mirror {toc.mirror!r}, but {dest} holds mirror "
                f"{current.mirror!r}"]
    if toc.base is None:
        if current is None and dest.is_dir() and any(_visible(dest)):
            begun = _interrupted_import(dest)
            if begun == toc.name:
                return []  # the commit of this very bundle was cut short: complete it
            if begun is not None:
                return [f"{dest} holds an interrupted import of {begun}; import that bundle "
                        "again to complete it"]
            return [f"{dest} is not empty and has no mirrorkit manifest; import a full bundle "
                    "into an empty directory or an existing mirror"]
        return []
    if held != toc.base:
        return [f"{toc.name} is a delta from snapshot {toc.base}, but {dest} holds "
                f"{('snapshot ' + held) if held else 'no snapshot'}; import the bundle of "
                f"snapshot {toc.base} first (or a full bundle)"]
    assert current is not None
    foreign = [p for p in toc.deleted if p not in current.files]
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        return [f"{toc.name} deletes {foreign[0][:200]!r}{more}, which is not a file of its "
                f"base snapshot {toc.base}; import refused, {dest} is unchanged"]
    return []


def _interrupted_import(dest: Path) -> str | None:
    """The bundle whose first full import into ``dest`` began committing and never ended."""
    try:
        data = json.loads((dest / STATE_DIR / JOURNAL).read_bytes())
    except (OSError, ValueError):
        return None
    name = data.get("bundle") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def _visible(dest: Path) -> list[str]:
    return [n for n in os.listdir(dest) if n != STATE_DIR]


def _new_files(toc: Toc, current: Manifest | None) -> dict[str, FileEntry]:
    files: dict[str, FileEntry] = {}
    if toc.base is not None and current is not None:
        files = {p: FileEntry(size=e.size, sha256=e.sha256, kind=e.kind, digest=e.digest,
                              order=e.order)
                 for p, e in current.files.items()}
        for path in toc.deleted:
            files.pop(path, None)
    for f in toc.files:
        files[f.path] = FileEntry(size=f.size, sha256=f.sha256, kind=f.kind, digest=f.digest,
                                  order=f.order)
    return files


@dataclass
class _Staged:
    info: FileInfo
    tmp: Path
    mtime: float


def _open_stream(target: Target, toc: Toc) -> IO[bytes]:
    reader = PartReader(toc.parts, target.open_read)
    if toc.compression == "zstd":
        import zstandard

        stream: Any = zstandard.ZstdDecompressor().stream_reader(
            cast(Any, reader), read_size=READ_BUFFER, closefd=True)
        return stream  # type: ignore[no-any-return]
    return reader  # type: ignore[return-value]


def _describe_type(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symlink to {member.linkname[:200]!r}"
    if member.islnk():
        return f"a hard link to {member.linkname[:200]!r}"
    if member.isdev():
        return "a device or FIFO"
    if member.issparse():  # isreg() is true, but its size is not what the tar carries
        return f"a sparse file ({member.size} bytes from far fewer in the tar)"
    return f"of tar type {member.type!r}"


def _extract(target: Target, toc: Toc, staging: Staging) -> dict[str, _Staged]:
    """Stage every member; raise with every problem found (up to MAX_REPORTED)."""
    expected = {f.path: f for f in toc.files}
    staged: dict[str, _Staged] = {}
    problems: list[str] = []
    buf = bytearray(READ_BUFFER)

    def problem(line: str) -> None:
        problems.append(f"{toc.name}: {line}")
        if len(problems) >= MAX_REPORTED:
            raise ImportError_([*problems, "... (stopped after 50 problems)"])

    stream = _open_stream(target, toc)
    try:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=READ_BUFFER) as tf:
            for member in tf:
                shown = member.name[:200]
                try:
                    path = validate_relpath(member.name)
                except UnsafePathError as exc:
                    problem(f"unsafe member: {exc}")
                    continue
                if member.isdir():
                    continue
                if not member.isreg() or member.issparse():
                    problem(f"unsafe member {shown!r}: {_describe_type(member)} (only regular "
                            "files are accepted)")
                    continue
                if path in staged:
                    problem(f"member {shown!r} appears twice")
                    continue
                info = expected.get(path)
                if info is None:
                    problem(f"member {shown!r} is not listed in the TOC")
                    continue
                if member.size != info.size:
                    problem(f"member {shown!r} has {member.size} bytes, the TOC says "
                            f"{info.size}")
                    continue
                tmp = staging.new_path()
                sha = _copy(tf, member, tmp, buf)
                if sha != info.sha256:
                    tmp.unlink(missing_ok=True)
                    problem(f"member {shown!r}: sha256 {sha}, the TOC says {info.sha256}")
                    continue
                staged[path] = _Staged(info, tmp, float(member.mtime))
    except (tarfile.TarError, TruncatedPart, EOFError) as exc:
        problem(f"unreadable tar stream: {exc}")
    except Exception as exc:
        if type(exc).__module__.startswith("zstd") or "zstd" in type(exc).__name__.lower():
            problem(f"unreadable zstd stream: {exc}")
        else:
            raise
    finally:
        stream.close()
    for path in sorted(set(expected) - set(staged)):
        if not any(f"{path!r}" in p for p in problems):
            problem(f"{path} is listed in the TOC but missing from the tar")
    if problems:
        raise ImportError_(problems)
    return staged


def _copy(tf: tarfile.TarFile, member: tarfile.TarInfo, tmp: Path, buf: bytearray) -> str:
    src = tf.extractfile(member)
    assert src is not None
    h = hashlib.sha256()
    view = memoryview(buf)
    with src, open(tmp, "wb") as out:
        while n := src.readinto(view):  # type: ignore[attr-defined]
            h.update(view[:n])
            out.write(view[:n])
    return h.hexdigest()
