"""Keeping what apt-mirror keeps: files no longer listed upstream, outside ``clean`` repositories.

The core removes every file a plan no longer names. apt-mirror removes nothing unless the
list has a ``clean URL`` line (and then only under that URL), and operators rely on that:
an old package a pinned client still asks for stays. So every file of the previous snapshot
that this run did not plan, and that lies outside the ``clean`` repositories, is kept
(``ctx.keep_previous``): it stays in the mirror and the manifest, wherever the mirror lives,
and ``verify`` and bundles still see it. A file gone from a local tree stays gone.
"""

from __future__ import annotations

from collections.abc import Iterable

from mirrorkit.api import PlanContext

__all__ = ["keep_unlisted"]


def keep_unlisted(ctx: PlanContext, planned: set[str], clean_prefixes: Iterable[str]) -> None:
    prev = ctx.previous
    if prev is None:
        return
    clean = tuple(clean_prefixes)
    unlisted = [path for path in prev.files
                if path not in planned and not (clean and path.startswith(clean))]
    if unlisted:
        ctx.keep_previous(unlisted, all_or_nothing=False)
