"""Whole subdirs: every package, and the channel's index files byte for byte."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import ijson

from mirrorkit.api import Artifact, PlanContext

from .options import CondaOptions
from .plancache import PlanCache
from .repodata import SECTIONS, PackageRef, iter_records, package_ref
from .upstream import exists
from .variants import COMPRESSED, CURRENT, OPTIONAL, REPODATA, decompressed_sha256, missing_from

__all__ = ["plan_channeldata", "plan_whole_subdir"]


async def plan_whole_subdir(options: CondaOptions, ctx: PlanContext,
                            subdir: str) -> AsyncIterator[Artifact]:
    """Yield the subdir's packages; its index files are fetched (and committed last)."""
    channel = options.channel_url
    rel = f"{subdir}/{REPODATA}"
    path = await ctx.fetch(Artifact.index(rel, f"{channel}/{rel}"))
    fetched = {REPODATA: path}
    for name in OPTIONAL:
        url = f"{channel}/{subdir}/{name}"
        if await exists(ctx, url):
            fetched[name] = await ctx.fetch(Artifact.index(f"{subdir}/{name}", url))
    changed = any(p != ctx.dest / subdir / name for name, p in fetched.items())
    cache = PlanCache(ctx.work_dir, subdir)
    previous = ctx.previous.files.get(rel) if ctx.previous is not None else None
    if not changed and previous is not None:
        refs = cache.load(previous.sha256)
        if refs is not None:
            paths = _mirrored(ctx, refs)
            if paths is not None and ctx.keep_previous(paths):
                ctx.log.debug("%s unchanged: its %d packages kept", rel, len(refs))
                return
            ctx.log.debug("%s unchanged: %d packages from the plan cache", rel, len(refs))
            for ref in refs:
                yield ref.artifact(channel)
            return
    hasher = hashlib.sha256()
    known: dict[str, str] | None = {} if CURRENT in fetched else None
    writer = cache.writer()
    try:
        for section, filename, record in iter_records(path, rel, hasher):
            ref = package_ref(subdir, section, filename, record, rel)
            writer.add(ref)
            if known is not None:
                known[filename] = ref.hexdigest
            yield ref.artifact(channel)
    except BaseException:
        writer.discard()
        raise
    repodata_sha256 = hasher.hexdigest()
    writer.commit(repodata_sha256)
    if changed:
        await _check_variants(ctx, subdir, fetched, repodata_sha256, known)


def _mirrored(ctx: PlanContext, refs: list[PackageRef]) -> list[str] | None:
    """The packages' paths when the previous snapshot holds each as repodata names it.

    None when one is missing or differs (a package that failed under ``--allow-partial``):
    then every package is planned, and the core fetches what is not in place.
    """
    files = ctx.previous.files if ctx.previous is not None else {}
    paths = []
    for subdir, filename, algorithm, hexdigest, size in refs:
        path = f"{subdir}/{filename}"
        entry = files.get(path)
        if entry is None or (size is not None and entry.size != size):
            return None
        if algorithm == "sha256":
            if entry.sha256 != hexdigest:
                return None
        elif algorithm and entry.digest != f"{algorithm}:{hexdigest}":
            return None
        paths.append(path)
    return paths


async def _check_variants(ctx: PlanContext, subdir: str, fetched: dict[str, Path],
                          repodata_sha256: str, known: dict[str, str] | None) -> None:
    """Fail the run (nothing committed) when a variant disagrees with repodata.json.

    Upstream rewrites its files one after another; a run that caught it halfway would
    otherwise serve a ``.zst`` that rattler reads and a ``.json`` that conda reads, each
    naming different packages.
    """
    for name in COMPRESSED:
        if name in fetched:
            got = await anyio.to_thread.run_sync(decompressed_sha256, name, fetched[name])
            if got != repodata_sha256:
                ctx.fail(f"{subdir}/{name}", f"does not decompress to the {REPODATA} fetched "
                         "in the same run (upstream was changing?); run again later")
    if known is not None:
        try:
            stray = missing_from(_records(fetched[CURRENT]), known)
        except ijson.JSONError as exc:
            stray = f"nothing readable (not valid JSON: {exc})"
        if stray is not None:
            ctx.fail(f"{subdir}/{CURRENT}", f"lists {stray}, which {REPODATA} of the same run "
                     "does not list with that digest; run again later")


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    for section in SECTIONS:
        with open(path, "rb") as fh:
            yield from ijson.kvitems(fh, section, use_float=True)


async def plan_channeldata(options: CondaOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
    """``channeldata.json`` at the channel root, byte for byte, when the channel has one."""
    url = f"{options.channel_url}/channeldata.json"
    if await exists(ctx, url):
        # it names packages of every subdir: committed after their repodata files
        yield Artifact.index("channeldata.json", url, order=1)
