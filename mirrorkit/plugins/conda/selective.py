"""Selective mirrors: the named packages (and their closure), with repodata written to match.

The selection depends only on upstream's repodata, the variants the channel publishes,
its channeldata and the options. Every one of them is asked for through the core
(conditionally, with the validators kept in plugin state), so when all answer as the last
run's did, ``ctx.keep_previous_plan()`` keeps that run's snapshot and nothing is parsed.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import anyio.to_thread

from mirrorkit.api import Artifact, Kind, PlanContext

from .closure import Catalog, Selection, select
from .options import CondaOptions
from .planned import forget_counts
from .repodata import iter_records, package_ref
from .upstream import PrivateInput, PrivateInputs, exists
from .variants import OPTIONAL, REPODATA
from .writer import write_channeldata, write_subdir

__all__ = ["plan_selective"]

CHANNELDATA = "channeldata.json"


def _catalog(upstream: Path, subdir: str) -> Catalog:
    where = f"upstream {subdir}/{REPODATA}"
    catalog = Catalog(subdir)
    for section, filename, record in iter_records(upstream, where):
        catalog.add(package_ref(subdir, section, filename, record, where), record, where)
    return catalog


async def plan_selective(options: CondaOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
    channel = options.channel_url
    subdirs = options.all_subdirs
    inputs = PrivateInputs(ctx)
    await inputs.load()
    repodata: dict[str, PrivateInput] = {}
    variants: dict[str, list[str]] = {}
    for subdir in subdirs:
        url = f"{channel}/{subdir}/{REPODATA}"
        repodata[subdir] = await inputs.get(f"{subdir}/{REPODATA}", [f"{url}.zst", url])
        variants[subdir] = [name for name in OPTIONAL
                            if await exists(ctx, f"{channel}/{subdir}/{name}")]
    channeldata = await inputs.get(CHANNELDATA, [f"{channel}/{CHANNELDATA}"], required=False)
    inputs.save()
    if ctx.keep_previous_plan():
        ctx.note("conda", {"kept_plan": True})
        return
    forget_counts(ctx)
    work = ctx.work_dir / "conda"
    documents = {s: await inputs.document(got, work / "upstream") for s, got in repodata.items()}
    selection = await _select(options, ctx, documents)
    out = work / "out"
    for subdir in subdirs:
        await anyio.to_thread.run_sync(
            write_subdir, documents[subdir], subdir, selection.records.get(subdir, {}),
            variants[subdir], out / subdir)
    if channeldata.url is not None:
        names = {c.name.lower() for chosen in selection.records.values()
                 for c in chosen.values()}
        source = await inputs.document(channeldata, work / "upstream")
        await anyio.to_thread.run_sync(write_channeldata, source, names, subdirs, out)
    # the decoded inputs are written again from state whenever they are needed
    await anyio.to_thread.run_sync(partial(shutil.rmtree, work / "upstream", ignore_errors=True))
    ctx.note("conda", {"selected": {s: len(selection.records.get(s, {})) for s in subdirs}})
    for subdir in subdirs:
        for cand in selection.records.get(subdir, {}).values():
            yield cand.ref.artifact(channel)
    for subdir in subdirs:
        for name in [REPODATA, *variants[subdir]]:
            yield Artifact.local(f"{subdir}/{name}", out / subdir / name, kind=Kind.INDEX)
    if channeldata.url is not None:
        # it names packages of every subdir: committed after their repodata files
        yield Artifact.local(CHANNELDATA, out / CHANNELDATA, kind=Kind.INDEX, order=1)


async def _select(options: CondaOptions, ctx: PlanContext,
                  upstream: dict[str, Path]) -> Selection:
    catalogs = {s: await anyio.to_thread.run_sync(_catalog, p, s) for s, p in upstream.items()}
    selection = select(options.packages, options.with_deps, catalogs)
    if selection.unsatisfied:
        shown = ", ".join(sorted(selection.unsatisfied)[:5])
        ctx.log.info("%d dependencies match nothing in %s (from other channels?): %s",
                     len(selection.unsatisfied), options.channel_url, shown)
    return selection
