"""Selective mirrors: the named packages (and their closure), with repodata written to match.

The selection depends only on upstream's repodata and the options; when every subdir's
repodata came back ``304`` and the options are the same, the last run's selection (kept
per subdir in the plan cache) is used again without parsing anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread

from mirrorkit.api import Artifact, Kind, PlanContext, storable_url

from .closure import Catalog, Selection, select
from .options import CondaOptions
from .plancache import PlanCache
from .repodata import PackageRef, iter_records, package_ref
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


def _selection_key(options: CondaOptions, upstream: dict[str, Path],
                   variants: dict[str, list[str]]) -> str:
    """Everything a selection depends on: the options and the identity of each input."""
    h = hashlib.sha256(json.dumps([storable_url(options.channel_url), options.packages,
                                   options.with_deps, options.all_subdirs, variants]).encode())
    for subdir, path in sorted(upstream.items()):
        validators = path.with_name(path.name + ".validators.json")
        h.update(subdir.encode() + b"\0" + validators.read_bytes() + b"\0")
    return h.hexdigest()


async def plan_selective(options: CondaOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
    channel = options.channel_url
    base = ctx.work_dir / "conda"
    subdirs = options.all_subdirs
    upstream: dict[str, Path] = {}
    variants: dict[str, list[str]] = {}
    changed = False
    for subdir in subdirs:
        target = base / "upstream" / subdir / REPODATA
        url = f"{channel}/{subdir}/{REPODATA}"
        changed |= await fetch_private(ctx, [f"{url}.zst", url], target)
        upstream[subdir] = target
        variants[subdir] = [name for name in OPTIONAL
                            if await exists(ctx, f"{channel}/{subdir}/{name}")]
    key = _selection_key(options, upstream, variants)
    caches = {s: PlanCache(ctx.work_dir, s, "selected") for s in subdirs}
    kept = None if changed else _cached(caches, key, base, variants)
    names: set[str] = set()
    if kept is None:
        selection = await _select(options, ctx, upstream)
        refs = {s: [c.ref for c in selection.records.get(s, {}).values()] for s in subdirs}
        names = {c.name.lower() for chosen in selection.records.values()
                 for c in chosen.values()}
        for subdir in subdirs:
            await anyio.to_thread.run_sync(
                write_subdir, upstream[subdir], subdir, selection.records.get(subdir, {}),
                variants[subdir], base / "out" / subdir)
            _save(caches[subdir], key, refs[subdir])
        (base / "out" / "names.txt").write_text("\n".join(sorted(names)))
    else:
        refs = kept
    for subdir in subdirs:
        for ref in refs[subdir]:
            yield ref.artifact(channel)
    for subdir in subdirs:
        for name in [REPODATA, *variants[subdir]]:
            yield Artifact.local(f"{subdir}/{name}", base / "out" / subdir / name,
                                 kind=Kind.INDEX)
    channeldata_url = f"{channel}/channeldata.json"
    if await exists(ctx, channeldata_url):
        source = base / "upstream" / "channeldata.json"
        out = base / "out" / "channeldata.json"
        fresh = await fetch_private(ctx, [channeldata_url], source)
        if fresh or kept is None or not out.exists():
            if kept is not None:  # the package names of the cached selection
                names = set((base / "out" / "names.txt").read_text().split())
            write_channeldata(source, names, subdirs, base / "out")
        yield Artifact.local("channeldata.json", out, kind=Kind.INDEX, order=1)


async def _select(options: CondaOptions, ctx: PlanContext,
                  upstream: dict[str, Path]) -> Selection:
    catalogs = {s: await anyio.to_thread.run_sync(_catalog, p, s) for s, p in upstream.items()}
    selection = select(options.packages, options.with_deps, catalogs)
    if selection.unsatisfied:
        shown = ", ".join(sorted(selection.unsatisfied)[:5])
        ctx.log.info("%d dependencies match nothing in %s (from other channels?): %s",
                     len(selection.unsatisfied), options.channel_url, shown)
    return selection


def _cached(caches: dict[str, PlanCache], key: str, base: Path,
            variants: dict[str, list[str]]) -> dict[str, list[PackageRef]] | None:
    out: dict[str, list[PackageRef]] = {}
    for subdir, cache in caches.items():
        refs = cache.load(key)
        files = [base / "out" / subdir / n for n in [REPODATA, *variants[subdir]]]
        if refs is None or not all(f.exists() for f in [*files, base / "out" / "names.txt"]):
            return None
        out[subdir] = refs
    return out


def _save(cache: PlanCache, key: str, refs: list[PackageRef]) -> None:
    writer = cache.writer()
    for ref in refs:
        writer.add(ref)
    writer.commit(key)
