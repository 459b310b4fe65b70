"""Selective mirrors: the named packages (and their closure), with repodata written to match."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread

from mirrorkit.api import Artifact, Kind, PlanContext

from .closure import Catalog, select
from .options import CondaOptions
from .repodata import iter_records, package_ref
from .upstream import exists, fetch_private
from .variants import OPTIONAL, REPODATA
from .writer import write_channeldata, write_subdir

__all__ = ["plan_selective"]


def _catalog(upstream: Path, subdir: str) -> Catalog:
    where = f"upstream {subdir}/{REPODATA}"
    catalog = Catalog(subdir)
    for section, filename, record in iter_records(upstream, where):
        catalog.add(package_ref(subdir, section, filename, record, where), record, where)
    return catalog


async def plan_selective(options: CondaOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
    channel = options.channel_url
    base = ctx.work_dir / "conda"
    subdirs = options.all_subdirs
    upstream: dict[str, Path] = {}
    variants: dict[str, list[str]] = {}
    for subdir in subdirs:
        target = base / "upstream" / subdir / REPODATA
        url = f"{channel}/{subdir}/{REPODATA}"
        await fetch_private(ctx, [f"{url}.zst", url], target)
        upstream[subdir] = target
        variants[subdir] = [name for name in OPTIONAL
                            if await exists(ctx, f"{channel}/{subdir}/{name}")]
    catalogs = {s: await anyio.to_thread.run_sync(_catalog, p, s) for s, p in upstream.items()}
    selection = select(options.packages, options.with_deps, catalogs)
    del catalogs
    if selection.unsatisfied:
        shown = ", ".join(sorted(selection.unsatisfied)[:5])
        ctx.log.info("%d dependencies match nothing in %s (from other channels?): %s",
                     len(selection.unsatisfied), channel, shown)
    for chosen in selection.records.values():
        for cand in chosen.values():
            yield cand.ref.artifact(channel)
    for subdir in subdirs:
        chosen = selection.records.get(subdir, {})
        written = await anyio.to_thread.run_sync(
            write_subdir, upstream[subdir], subdir, chosen, variants[subdir],
            base / "out" / subdir)
        for name, path in written.items():
            yield Artifact.local(f"{subdir}/{name}", path, kind=Kind.INDEX)
    channeldata_url = f"{channel}/channeldata.json"
    if await exists(ctx, channeldata_url):
        source = base / "upstream" / "channeldata.json"
        await fetch_private(ctx, [channeldata_url], source)
        names = {c.name.lower() for chosen in selection.records.values()
                 for c in chosen.values()}
        path = write_channeldata(source, names, subdirs, base / "out")
        yield Artifact.local("channeldata.json", path, kind=Kind.INDEX, order=1)
