"""Seeding an empty work repository from what the mirror already publishes.

The work repository is where each run fetches into. In a local mirror it survives between
runs; into a bucket (``--dest s3://...``) the work directory is new each run, and so is it
when a mirror was imported elsewhere or its ``.mirrorkit/work`` was lost. An empty work
repository makes ``git fetch`` a full clone, and the pack of a full clone has another name
than the packs already published: the whole history would be published again and every
published pack removed, and dumb-HTTP clients would lose their incremental fetches.

The published copy holds everything the work repository had that matters to a fetch: the
packs and their ``.idx``, any loose objects, the refs (``packed-refs``, ``refs/``), ``HEAD``
and ``objects/info/packs``. Copied back (``ctx.previous_file``, read from the bucket when
the mirror is one), they let git negotiate with upstream as if the work repository had
never gone: only new objects travel, as one new pack beside the published ones, and the
published pack names stay. ``objects/info/packs`` is copied too because
``git update-server-info`` keeps the order of the packs it already lists.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from mirrorkit.api import PlanContext

__all__ = ["Seeded", "seed_work_repo"]

#: what of a published repository goes back into its work repository
_SEEDED = re.compile(
    r"objects/pack/pack-[0-9a-f]{40,64}\.(?:pack|idx)"
    r"|objects/[0-9a-f]{2}/[0-9a-f]{38,62}"
    r"|objects/info/packs|packed-refs|HEAD|refs/(?:heads|tags)/.+")
_PARALLEL = 8


@dataclass(slots=True)
class Seeded:
    """Files copied from the previous snapshot: repository path -> (size, mtime_ns) as
    copied, so a file git has not touched since is known to have the published bytes."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)

    def unchanged(self, git_dir: Path, relpath: str) -> bool:
        copied = self.files.get(relpath)
        if copied is None:
            return False
        try:
            st = os.stat(git_dir / relpath)
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns) == copied


def _published(ctx: PlanContext, prefix: str) -> list[str]:
    """The seedable files the previous snapshot publishes for the repository at ``prefix``
    (relative to the repository), leaving out those only kept for their prune grace."""
    prev = ctx.previous
    if prev is None:
        return []
    base = f"{prefix}/" if prefix else ""
    out = []
    for path, entry in prev.files.items():
        if entry.stale_since is not None or not path.startswith(base):
            continue
        rel = path[len(base):]
        if _SEEDED.fullmatch(rel) and not rel.rsplit("/", 1)[-1].startswith("."):
            out.append(rel)
    return sorted(out)


async def seed_work_repo(ctx: PlanContext, git_dir: Path, prefix: str) -> Seeded:
    """Copy the repository's published files into the (empty) work repository at
    ``git_dir``; a file the previous snapshot names but cannot give is left out (the fetch
    then brings what it lacks, or starts over, see the planner)."""
    seeded = Seeded()
    rels = _published(ctx, prefix)
    if "packed-refs" not in rels and not any(r.startswith("refs/") for r in rels):
        return seeded  # nothing to negotiate with: a plain clone costs the same
    limiter = anyio.CapacityLimiter(_PARALLEL)

    async def copy(rel: str) -> None:
        async with limiter:
            path = f"{prefix}/{rel}" if prefix else rel
            try:
                source = await ctx.previous_file(path)
            except OSError as exc:
                ctx.log.warning("git %s: cannot read %s back from the mirror (%s)",
                                prefix or "<root>", rel, exc)
                return
            if source is None:
                return
            target = git_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            await anyio.to_thread.run_sync(shutil.copyfile, source, target)
            st = os.stat(target)
            seeded.files[rel] = (st.st_size, st.st_mtime_ns)

    async with anyio.create_task_group() as tg:
        for rel in rels:
            tg.start_soon(copy, rel)
    ctx.log.info("git %s: work repository seeded from the mirror (%d files)",
                 prefix or "<root>", len(seeded.files))
    return seeded
