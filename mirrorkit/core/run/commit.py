"""The commit phase of a run: turn what the run verified into a changeset and apply it.

Which files are stale, which stay for their grace period, whether the snapshot id changes:
those are the run's decisions, made here. The order in which the writes happen is not:
that lives in :mod:`.store.apply`, shared with bundle import and S3 publishing. Nothing here
runs until every download of the plan has been verified.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from ..store import Link, Put, apply_changeset, build_changeset
from ..store.changeset import ancestors, directories
from ..store.manifest import FileEntry, Manifest

if TYPE_CHECKING:
    from ..store import Store
    from .engine import MirrorRun

__all__ = ["commit_snapshot", "record_failed_run", "roll_back_new"]

log = logging.getLogger("mirrorkit.engine")


def _resolve_links(run: MirrorRun) -> list[Link]:
    """Every planned link whose target is in the snapshot (--allow-partial may drop some)."""
    links = []
    for art in run.links:
        assert art.link_to is not None
        entry = run.entries.get(art.link_to)
        if entry is None:  # the target failed and --allow-partial is on
            run._fail(art, f"link target {art.link_to} is not in the mirror")
            continue
        links.append(Link(art.path, art.link_to))
        run.entries[art.path] = FileEntry(size=entry.size, sha256=entry.sha256,
                                           digest=entry.digest)
    return links


def _stale(run: MirrorRun) -> list[str]:
    """Files of the previous snapshot to remove; those in their grace period stay listed.

    A stale file in the way of a new path (a file that became a directory, or the reverse)
    goes now, whatever the grace: both cannot exist at once.
    """
    now = time.time()
    grace = run.settings.prune_grace
    new_dirs = directories(run.entries)
    gone = []
    for path, entry in run.prev_files.items():
        if path in run.entries or path in run.failed:
            continue
        in_the_way = path in new_dirs or any(a in run.entries for a in ancestors(path))
        if grace > 0 and not in_the_way:
            since = entry.stale_since or now
            if now - since < grace:
                entry.stale_since = since
                run.entries[path] = entry
                continue
        gone.append(path)
    return gone


def commit_snapshot(run: MirrorRun, run_id: str, store: Store) -> None:
    links = _resolve_links(run)
    for path in run.failed:  # --allow-partial: keep what we had
        if path in run.prev_files and path not in run.entries:
            run.entries[path] = run.prev_files[path]
    gone = _stale(run)
    puts = [Put(s.artifact.path, s.entry, s.tmp, s.mtime)
            for s in (*run.deferred_blobs, *run.staged_index)]
    changed = bool(run.committed_new or puts or gone or links
                   or len(run.entries) != len(run.prev_files))
    snapshot = run_id if changed or run.prev is None or not run.prev.snapshot else (
        run.prev.snapshot)
    manifest = Manifest(
        mirror=run.mirror.name,
        registry=run.mirror.registry,
        snapshot=snapshot,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        files=run.entries,
    )
    changes = build_changeset(run.prev_files, manifest, puts, links=links, deletes=gone,
                              where=run.describe_dest())
    # dict equality: in C, and a kept entry is the previous one itself (identity first)
    if not (changed or run.prev is None or run.entries != run.prev_files):
        changes.manifest = None  # nothing changed: the manifest (and snapshot id) stay
    removed = apply_changeset(changes, store)
    log.info("committed %d blobs and %d index files",
             len(run.committed_new) + len(changes.blobs),
             sum(len(w) for w in changes.index_waves))
    run.report.snapshot = snapshot
    run.report.files = len(run.entries)
    run.report.removed = removed


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


def roll_back_new(run: MirrorRun) -> None:
    """A refused run (its plan is impossible): remove the new blobs it already put in place.

    They were committed early (new paths, named by no index yet), so removing them gives the
    tree back exactly as it was.
    """
    for path in run.committed_new:
        run.staging.tree.unlink(path)
    run.committed_new.clear()
    run.report.snapshot = run.prev.snapshot if run.prev else None
    run.report.files = len(run.prev_files)
