"""The commit order, in one place, for every way a snapshot reaches a store.

0. the store checks it can apply all of it (nothing is written if not);
1. paths in the way of new ones (a file that becomes a directory, or the reverse), so the
   new file can take the name; nothing a current index names is affected, since the new
   snapshot drops the path anyway;
2. new and changed blobs: invisible to clients until an index names them;
3. hard links to blobs, which are now in place;
4. index files, wave by wave in ``order`` (an index that names other index files waits for
   them);
5. deletions, now that no index names them;
6. the manifest, last, so it only ever describes a store whose every file is in place.

A failure at any step skips the later ones: the previous indexes and manifest stay served,
and the next attempt, which diffs against that manifest, redoes the work.
"""

from __future__ import annotations

import logging

from .base import Store
from .changeset import Changeset

__all__ = ["apply_changeset"]

log = logging.getLogger("mirrorkit.store")


def apply_changeset(changes: Changeset, store: Store) -> int:
    """Carry ``changes`` out on ``store`` in the consistent order; returns paths removed."""
    store.preflight(changes)
    removed = store.delete_many(changes.clear_first) if changes.clear_first else 0
    store.put_many(changes.blobs)
    if changes.links:
        store.link(changes.links)
    for wave in changes.index_waves:
        store.put_many(wave)
    if changes.deletes:
        removed += store.delete_many(changes.deletes)
    if changes.manifest is not None:
        store.publish(changes.manifest)
    log.debug("%s: stored %d files, %d links, removed %d", store.describe(),
              len(changes.puts), len(changes.links), removed)
    return removed
