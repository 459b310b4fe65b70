"""The commit phase of a run: replaced blobs, links, index files in order, prune, manifest.

Kept apart from the fetching so the order that makes a mirror consistent reads in one place:
nothing here runs until every download of the plan has been verified.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .manifest import FileEntry, Manifest
from .staging import remove_with_empty_parents

if TYPE_CHECKING:
    from .engine import MirrorRun

__all__ = ["commit_links", "commit_snapshot", "prune_stale", "record_failed_run"]

log = logging.getLogger("mirrorkit.engine")


def commit_links(run: MirrorRun) -> int:
    """Hard-link every planned link to its committed target; returns how many were made."""
    made = 0
    replaced = {s.artifact.path for s in run.deferred_blobs}
    for art in run.links:
        assert art.link_to is not None
        entry = run.entries.get(art.link_to)
        if entry is None:  # the target failed and --allow-partial is on
            run._fail(art, f"link target {art.link_to} is not in the mirror")
            continue
        final, target = run.dest / art.path, run.dest / art.link_to
        if art.link_to in replaced or not _same_file(final, target):
            tmp = run.staging.new_path()
            try:
                os.link(target, tmp)
            except OSError as exc:  # a filesystem without hard links: copy instead
                log.warning("cannot hard-link %s (%s); copying", art.path, exc.strerror)
                shutil.copy2(target, tmp)
            run.staging.commit(tmp, art.path)
            made += 1
        run.entries[art.path] = FileEntry(size=entry.size, sha256=entry.sha256,
                                           digest=entry.digest)
    return made

def commit_snapshot(run: MirrorRun, run_id: str) -> None:
    for staged in run.deferred_blobs:
        run.staging.commit(staged.tmp, staged.artifact.path, staged.mtime)
    linked = commit_links(run)
    for staged in sorted(run.staged_index, key=lambda s: (s.artifact.order, s.seq)):
        run.staging.commit(staged.tmp, staged.artifact.path, staged.mtime)
    log.info("committed %d blobs and %d index files",
             len(run.committed_new) + len(run.deferred_blobs), len(run.staged_index))
    removed = prune_stale(run)
    for path, err in run.failed.items():  # --allow-partial: keep what we had
        del err
        if path in run.prev_files and path not in run.entries:
            run.entries[path] = run.prev_files[path]
    changed = bool(run.committed_new or run.deferred_blobs or run.staged_index or removed
                   or linked or len(run.entries) != len(run.prev_files))
    snapshot = run_id if changed or run.prev is None or not run.prev.snapshot else (
        run.prev.snapshot)
    manifest = Manifest(
        mirror=run.mirror.name,
        registry=run.mirror.registry,
        snapshot=snapshot,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        files=run.entries,
    )
    if changed or run.prev is None or any(
        run.prev_files.get(p) != e for p, e in run.entries.items()
    ):
        manifest.save(run.dest, keep_snapshots=run.settings.keep_snapshots)
    run.report.snapshot = snapshot
    run.report.files = len(run.entries)
    run.report.removed = removed

def prune_stale(run: MirrorRun) -> int:
    now = time.time()
    grace = run.settings.prune_grace
    removed = 0
    for path, entry in run.prev_files.items():
        if path in run.entries or path in run.failed:
            continue
        if grace > 0:
            since = entry.stale_since or now
            if now - since < grace:
                entry.stale_since = since
                run.entries[path] = entry
                continue
        remove_with_empty_parents(run.dest, path)
        removed += 1
    return removed

def record_failed_run(run: MirrorRun) -> None:
    """Keep the old snapshot served; remember the verified blobs we did commit."""
    if run.committed_new and run.prev is not None:
        files = dict(run.prev_files)
        files.update(run.committed_new)
        run.prev.files = files
        # the current manifest only: the snapshot's own copy must keep naming exactly
        # what that snapshot held, or a bundle delta from it would skip these files
        run.prev.save(run.dest, keep_snapshots=0)
    elif run.committed_new:
        Manifest(mirror=run.mirror.name, registry=run.mirror.registry, snapshot=None,
                 files=dict(run.committed_new)).save(run.dest)
    run.report.snapshot = run.prev.snapshot if run.prev else None
    run.report.files = len(run.prev_files)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
