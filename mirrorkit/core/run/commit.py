"""The commit phase of a run: turn what the run verified into one changeset.

Which files are stale, which stay for their grace period, whether the snapshot id changes:
those are the run's decisions, made here from the ledger. The order in which the writes
happen is not: that lives in :mod:`..store.apply`, shared with bundle import and S3
publishing, and the target carries it out. Nothing here runs until every download of the
plan has been verified.
"""

from __future__ import annotations

import datetime as dt
import time

from ..store import Changeset, Link, Put, build_changeset
from ..store.changeset import ancestors, directories
from ..store.manifest import FileEntry, Manifest
from .ledger import RunLedger

__all__ = ["plan_commit"]


def _resolve_links(ledger: RunLedger) -> list[Link]:
    """Every planned link whose target is in the snapshot (--allow-partial may drop some)."""
    links = []
    for art in ledger.links:
        assert art.link_to is not None
        entry = ledger.entries.get(art.link_to)
        if entry is None:  # the target failed and --allow-partial is on
            ledger.fail(art, f"link target {art.link_to} is not in the mirror")
            continue
        links.append(Link(art.path, art.link_to))
        ledger.entries[art.path] = FileEntry(size=entry.size, sha256=entry.sha256,
                                              digest=entry.digest)
    return links


def _stale(ledger: RunLedger, previous: dict[str, FileEntry], grace: float) -> list[str]:
    """Files of the previous snapshot to remove; those in their grace period stay listed.

    A stale file in the way of a new path (a file that became a directory, or the reverse)
    goes now, whatever the grace: both cannot exist at once.
    """
    now = time.time()
    entries = ledger.entries
    new_dirs = directories(entries)
    gone = []
    for path, entry in previous.items():
        if path in entries or path in ledger.failed:
            continue
        in_the_way = path in new_dirs or any(a in entries for a in ancestors(path))
        if grace > 0 and not in_the_way:
            since = entry.stale_since or now
            if now - since < grace:
                entries[path] = FileEntry(
                    size=entry.size, sha256=entry.sha256, kind=entry.kind, digest=entry.digest,
                    etag=entry.etag, last_modified=entry.last_modified, stale_since=since,
                    order=entry.order)
                continue
        gone.append(path)
    return gone


def plan_commit(ledger: RunLedger, previous: Manifest | None, *, mirror: str, registry: str,
                run_id: str, prune_grace: float, where: str) -> tuple[Changeset, str]:
    """The changeset that makes what the ledger verified the mirror's snapshot, and that
    snapshot's id (the previous one when nothing changed)."""
    prev_files = previous.files if previous is not None else {}
    links = _resolve_links(ledger)
    entries = ledger.entries
    for path in ledger.failed:  # --allow-partial: keep what we had
        if path in prev_files and path not in entries:
            entries[path] = prev_files[path]
    gone = _stale(ledger, prev_files, prune_grace)
    puts = [Put(s.artifact.path, s.entry, s.tmp, s.mtime)
            for s in (*ledger.deferred_blobs, *ledger.staged_index)]
    changed = bool(ledger.committed_new or puts or gone or links
                   or len(entries) != len(prev_files))
    keep_id = not changed and previous is not None and previous.snapshot
    snapshot = previous.snapshot if keep_id and previous is not None and previous.snapshot \
        else run_id
    manifest = Manifest(mirror=mirror, registry=registry, snapshot=snapshot,
                        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        files=entries)
    changes = build_changeset(prev_files, manifest, puts, links=links, deletes=gone,
                              where=where)
    # dict equality: in C, and a kept entry is the previous one itself (identity first)
    if not (changed or previous is None or entries != prev_files):
        changes.manifest = None  # nothing changed: the manifest (and snapshot id) stay
    return changes, snapshot
