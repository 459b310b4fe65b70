"""``mirrorkit export``: pack a mirror snapshot (whole, or what changed since a base) into parts.

The tar stream (:mod:`.tarstream`: headers from :mod:`tarfile`, ustar with pax records
only where ustar cannot say it) is written straight into the parts. Headers are
deterministic (sorted paths, uid/gid 0, no user names, the file's whole-second mtime), so
re-running an interrupted export produces the same bytes, which is what lets S3 parts be
skipped. Uncompressed parts are written several at once (:mod:`.parallel`); a zstd stream
is one compressor's output, cut into parts as it comes (:class:`.parts.PartWriter`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..store import diff_files
from ..store.lock import MirrorLock, MirrorLocked
from ..store.manifest import FileEntry, Manifest, ManifestError, load_manifest
from .errors import ExportError
from .parallel import write_parts
from .parts import PartWriter
from .sizes import DEFAULT_PART_SIZE
from .targets import Target, TargetError, open_target
from .tarstream import copy_piece, cut_into_parts, tar_pieces
from .toc import TOC_SUFFIX, Compression, FileInfo, Toc, TocError, bundle_name, tree_digest

__all__ = ["DEFAULT_PART_SIZE", "ExportError", "ExportResult", "export_bundle", "state_name"]

log = logging.getLogger("mirrorkit.bundle.export")

COPY_BUFFER = 1024 * 1024
# above this many files per part, parts are written one after the other (about 1 KB of
# layout per file is held for each part in flight when they are written in parallel)
MAX_FILES_PER_PARALLEL_PART = 20_000
STATE_SUFFIX = ".last-export.json"


@dataclass
class ExportResult:
    target: str
    toc: Toc | None = None
    message: str = ""
    bytes_in: int = 0
    skipped_parts: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.toc is None:
            return self.message
        toc = self.toc
        kind = f"delta since {toc.base}" if toc.base else "full"
        return (f"{toc.name}: {kind}, {len(toc.files)} files ({self.bytes_in / 1e6:.1f} MB), "
                f"{len(toc.deleted)} deleted, {len(toc.parts)} parts "
                f"({toc.size / 1e6:.1f} MB) in {self.target}")


def state_name(mirror: str) -> str:
    return mirror + STATE_SUFFIX


def export_bundle(
    dest: Path,
    to: str,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    full: bool = False,
    since: str | None = None,
    zstd: bool = False,
    mirror_name: str | None = None,
) -> ExportResult:
    """Export the snapshot ``dest`` holds to ``to`` (a directory or ``s3://bucket/prefix``).

    By default a delta from the snapshot last exported to ``to`` (a full bundle the first
    time); ``full`` exports everything, ``since`` a delta from that snapshot. Raises
    :class:`~.errors.BundleError` (``in_use`` when another command holds the mirror) or
    ``OSError``.
    """
    if full and since:
        raise ExportError("give --full or --since, not both")
    target = open_target(to)
    try:
        with MirrorLock(dest, "mirrorkit export", role="export"):
            return _export_locked(dest, target, part_size=part_size, full=full, since=since,
                                  zstd=zstd, mirror_name=mirror_name)
    except MirrorLocked as exc:
        raise ExportError(str(exc), in_use=True) from None
    except (TargetError, TocError, ManifestError) as exc:
        raise ExportError(str(exc)) from None


def _export_locked(dest: Path, target: Target, *, part_size: int, full: bool,
                   since: str | None, zstd: bool, mirror_name: str | None) -> ExportResult:
    manifest = load_manifest(dest)
    if manifest is None:
        raise ExportError(f"{dest}: no mirrorkit manifest (is this a mirror?)")
    if not manifest.snapshot:
        raise ExportError(f"{dest}: the mirror has no complete snapshot yet")
    mirror = mirror_name or manifest.mirror or dest.name
    result = ExportResult(target=target.describe())
    base_id = None if full else (since or _last_exported(target, mirror))
    if base_id == manifest.snapshot:
        result.message = (f"{target.describe()} already has snapshot {manifest.snapshot} of "
                          f"{mirror}; nothing to export (use --full for a full bundle)")
        return result
    base: Manifest | None = None
    if base_id is not None:
        base = load_manifest(dest, snapshot=base_id)
        if base is None:
            how = "--since" if since else f"the last export to {target.describe()}"
            raise ExportError(
                f"{dest}: the manifest of base snapshot {base_id} ({how}) is no longer in "
                f"{dest}/.mirrorkit/snapshots (only the newest are kept); export a full "
                "bundle with --full"
            )
    changed, deleted = _diff(manifest, base)
    name = bundle_name(mirror, manifest.snapshot, delta=base is not None)
    compression: Compression = "zstd" if zstd else "none"
    target.begin_bundle(name, part_size)
    try:
        parts, result.bytes_in = _write_parts(dest, target, changed, name, part_size,
                                              compression)
    except BaseException:
        target.abort_bundle(name)
        raise
    toc = Toc(
        name=name,
        mirror=mirror,
        registry=manifest.registry,
        snapshot=manifest.snapshot,
        base=base.snapshot if base else None,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        compression=compression,
        part_size=part_size,
        size=sum(p.size for p in parts),
        parts=parts,
        files=[FileInfo(path=p, size=e.size, sha256=e.sha256, kind=e.kind, digest=e.digest,
                        order=e.order)
               for p, e in changed],
        deleted=deleted,
        tree_files=len(manifest.files),
        tree_sha256=tree_digest((p, e.size, e.sha256) for p, e in manifest.files.items()),
    )
    target.publish_bundle(name, [p.name for p in parts], toc.dumps())
    target.write_bytes(state_name(mirror), json.dumps({
        "mirror": mirror, "snapshot": toc.snapshot, "bundle": name, "exported": toc.created,
    }, indent=1).encode())
    target.end_bundle(name)
    result.toc = toc
    return result


class _Diverged(Exception):
    pass


def _write_parts(dest: Path, target: Target, changed: list[tuple[str, FileEntry]], name: str,
                 part_size: int, compression: str) -> tuple[list[Any], int]:
    for attempt in range(2):
        try:
            return _write_stream(dest, changed, name, part_size, compression, target.open_part)
        except _Diverged as exc:
            if attempt:
                raise ExportError(str(exc)) from None
            log.warning("%s; uploading every part again", exc)
            _forget(target)
    raise AssertionError("unreachable")


def _forget(target: Target) -> None:
    forget = getattr(target, "forget_journal", None)
    if forget is not None:
        forget()


def _diff(manifest: Manifest, base: Manifest | None
          ) -> tuple[list[tuple[str, FileEntry]], list[str]]:
    """What a bundle carries: the changeset diff of the snapshot against its base."""
    changed, deleted = diff_files(manifest.files, base.files if base is not None else {})
    return [(p, manifest.files[p]) for p in changed], deleted


def _last_exported(target: Target, mirror: str) -> str | None:
    """The snapshot last exported to ``target``: its state file, else the newest TOC there."""
    raw = target.read_bytes(state_name(mirror))
    if raw:
        try:
            snap = json.loads(raw).get("snapshot")
            if isinstance(snap, str) and snap:
                return snap
        except (ValueError, AttributeError):
            log.warning("%s: unreadable export state, looking at the TOCs", state_name(mirror))
    newest: str | None = None
    for name in target.names():
        if not (name.startswith(mirror + "-") and name.endswith(TOC_SUFFIX)):
            continue
        data = target.read_bytes(name)
        if data is None:
            continue
        try:
            toc = Toc.loads(data, where=name)
        except TocError:
            continue
        if toc.mirror == mirror and (newest is None or toc.snapshot > newest):
            newest = toc.snapshot
    return newest


def _write_stream(dest: Path, files: list[tuple[str, FileEntry]], name: str, part_size: int,
                  compression: str, open_part: Callable[[str], Any]) -> tuple[list[Any], int]:
    from .s3target import PartDiverged

    total = sum(entry.size for _, entry in files)
    pieces = tar_pieces(dest, files)
    # files in one part, about: the parallel writer holds each part's pieces (a header and
    # two small records per file) for the parts in flight
    per_part = min(len(files), len(files) * part_size / max(total, 1))
    if compression == "none" and per_part <= MAX_FILES_PER_PARALLEL_PART:
        try:  # parts are known ahead: several written (and hashed) at once
            return write_parts(name, cut_into_parts(pieces, part_size), open_part), total
        except PartDiverged as exc:
            raise _Diverged(str(exc)) from None
    # one stream cut as it comes, in constant memory: zstd (one compressor's output), or
    # parts of tens of thousands of small files each
    writer = PartWriter(name, part_size, compression, open_part)
    try:
        sink: Any = writer
        if compression == "zstd":
            import zstandard

            sink = zstandard.ZstdCompressor(level=3, threads=-1).stream_writer(
                cast(Any, writer), closefd=False, write_return_read=True)
        buf = bytearray(COPY_BUFFER)
        for piece in pieces:
            copy_piece(piece, sink, buf)
        if sink is not writer:
            sink.close()  # ends the zstd frame; closefd=False keeps the parts open
        return writer.close(), total
    except PartDiverged as exc:
        writer.abort()
        raise _Diverged(str(exc)) from None
    except BaseException:
        writer.abort()
        raise
