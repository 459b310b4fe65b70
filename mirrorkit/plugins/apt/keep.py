"""Keeping what apt-mirror keeps: files no longer listed upstream, outside ``clean`` repositories.

The core removes every file a plan no longer names. apt-mirror removes nothing unless the
list has a ``clean URL`` line (and then only under that URL), and operators rely on that:
an old package a pinned client still asks for stays. So every file of the previous snapshot
that this run did not plan, and that lies outside the ``clean`` repositories, is planned
again as a local file already in place: the core keeps it (one stat, no download), it stays
in the manifest, and ``verify`` and bundles still see it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable

from mirrorkit.api import Artifact, Digest, PlanContext

__all__ = ["keep_unlisted"]


async def keep_unlisted(ctx: PlanContext, planned: set[str],
                        clean_prefixes: Iterable[str]) -> AsyncIterator[Artifact]:
    prev = ctx.previous
    if prev is None:
        return
    clean = tuple(clean_prefixes)
    for path, entry in prev.files.items():
        if path in planned or (clean and path.startswith(clean)):
            continue
        local = ctx.dest / path
        try:
            st = os.stat(local)
        except OSError:
            continue  # gone from disk: nothing left to keep
        if st.st_size != entry.size:
            continue
        yield Artifact.local(path, local, kind=entry.kind, digest=Digest.sha256(entry.sha256),
                             order=entry.order)
