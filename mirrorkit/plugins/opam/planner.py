"""Planning an opam mirror: the index first, then the archives it names, old ones kept.

Whole repository: ``index.tar.gz``, ``repo`` and ``urls.txt`` are upstream's, byte for
byte. When the index is the one the previous snapshot holds (same sha256, whether upstream
answered ``304`` or sent the same bytes again), nothing else can have changed: every file of
that snapshot is kept as it is, with one request made in all.

Selection (``--package``): upstream's index is only an input; the mirror serves its own,
holding the selected versions' directories, with ``repo`` from inside it and a minimal
``urls.txt``. Rebuilt deterministically, an unchanged selection gives the same bytes, so
the same one-request re-run applies.

Cache files no package lists any more stay (opam.ocaml.org never deletes them, and existing
switches may still ask for them) unless ``prune_cache`` is set: the core removes what the
plan no longer names, so keeping them means naming them (``ctx.keep_previous``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import anyio.to_thread

from mirrorkit.api import (
    Artifact,
    FetchError,
    Kind,
    PlanContext,
    PlanError,
    UnsafePathError,
    validate_relpath,
)

from .archives import ArchivePlan
from .closure import select
from .index import (
    Catalog,
    IndexFormatError,
    VersionDir,
    decompress,
    minimal_urls_txt,
    read_index,
    write_index,
)
from .opamfile import PackageFile, Source, fetchable, read_opam, read_sources
from .options import OpamOptions
from .syntax import Field, List, parse_file

__all__ = ["plan_repository"]

INDEX = "index.tar.gz"
REPO = "repo"
URLS = "urls.txt"
#: upstream's index read into memory by a selective mirror (opam-repository: about 4 MB)
MAX_INDEX_BODY = 512 << 20
_ABSENT = (403, 404, 410)


async def plan_repository(options: OpamOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
    planned = _plan_selection(options, ctx) if options.packages else _plan_whole(options, ctx)
    async for artifact in planned:
        yield artifact


# ------------------------------------------------------------------------------ whole
async def _plan_whole(options: OpamOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
    repo_url = options.repo_url
    index_url = f"{repo_url}/{INDEX}"
    index = await ctx.fetch(Artifact.index(INDEX, index_url))
    if ctx.keep_previous_plan():  # the index and options of the last run: the same plan
        ctx.log.info("%s unchanged: the previous snapshot is kept", index_url)
        ctx.note("opam", {"index": "unchanged"})
        return
    for name in (REPO, URLS):
        if await _exists(ctx, f"{repo_url}/{name}"):
            yield Artifact.index(name, f"{repo_url}/{name}")
    catalog = await anyio.to_thread.run_sync(_read_catalog, index.path, index_url)
    archives = _archive_plan(catalog, repo_url, index_url, ctx)
    await anyio.to_thread.run_sync(_add_sources, archives, catalog.versions,
                                   _SourcesOnly(index_url))
    for artifact in archives.artifacts():
        yield artifact
    for artifact in _keep_unreferenced(ctx, options, archives, repo_url):
        yield artifact
    _note(ctx, catalog, catalog.versions, archives, "changed")


def _read_catalog(path: Path, where: str) -> Catalog:
    try:
        return read_index(decompress(path.read_bytes()))
    except IndexFormatError as exc:
        raise PlanError(f"{where}: {exc}") from None


# -------------------------------------------------------------------------- selection
async def _plan_selection(options: OpamOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
    repo_url = options.repo_url
    index_url = f"{repo_url}/{INDEX}"
    try:
        body = (await ctx.get(index_url, max_bytes=MAX_INDEX_BODY)).content
    except FetchError as exc:
        raise PlanError(f"{index_url}: {exc.reason}") from None
    if ctx.keep_previous_plan():  # the same index and selection: the same plan
        ctx.log.info("the selection from %s is unchanged: the previous snapshot is kept",
                     index_url)
        ctx.note("opam", {"index": "unchanged"})
        return
    out = ctx.work_dir / "opam"
    parsed = _Parsed(index_url)
    catalog, chosen, unsatisfied = await anyio.to_thread.run_sync(
        _select_and_write, options, body, index_url, parsed, out)
    generated = [Artifact.local(INDEX, out / INDEX, kind=Kind.INDEX)]
    if catalog.repo is not None:
        generated += [Artifact.local(REPO, out / REPO, kind=Kind.INDEX),
                      Artifact.local(URLS, out / URLS, kind=Kind.INDEX)]
    archives = _archive_plan(catalog, repo_url, index_url, ctx)
    await anyio.to_thread.run_sync(_add_sources, archives, chosen,
                                   lambda vd: parsed(vd).sources)
    for artifact in archives.artifacts():
        yield artifact
    for artifact in generated:
        yield artifact
    for artifact in _keep_unreferenced(ctx, options, archives, repo_url):
        yield artifact
    _note(ctx, catalog, chosen, archives, "changed", unsatisfied=unsatisfied)


def _select_and_write(options: OpamOptions, body: bytes, where: str, parsed: _Parsed,
                      out: Path) -> tuple[Catalog, list[VersionDir], list[str]]:
    """Read upstream's index, select, and write the mirror's index files into ``out``."""
    try:
        raw = decompress(body)
        catalog = read_index(raw)
    except IndexFormatError as exc:
        raise PlanError(f"{where}: {exc}") from None
    selection = select(options.packages, options.with_deps, options.with_depopts, catalog,
                       parsed)
    chosen = list(selection.versions.values())
    write_index(raw, selection.versions, out / INDEX)
    if catalog.repo is not None:
        _write(out / REPO, catalog.repo)
        _write(out / URLS, minimal_urls_txt(catalog.repo, catalog.repo_mode))
    return catalog, chosen, sorted(selection.unsatisfied)


def _write(path: Path, data: bytes) -> None:
    """Write ``path`` only when its bytes change, so its mtime stays (the core then keeps
    the mirrored copy without hashing it again)."""
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    path.write_bytes(data)


# ---------------------------------------------------------------------------- shared
class _Parsed:
    """Each version's ``opam`` file, parsed once; a broken one is a PlanError naming it."""

    def __init__(self, where: str) -> None:
        self.where = where
        self._done: dict[str, PackageFile] = {}

    def __call__(self, vd: VersionDir) -> PackageFile:
        done = self._done.get(vd.path)
        if done is None:
            try:
                done = read_opam(vd.opam.decode("utf-8", "replace"),
                                 None if vd.url is None else vd.url.decode("utf-8", "replace"))
            except ValueError as exc:
                raise PlanError(f"{self.where}: {vd.path}/opam: {exc}") from None
            self._done[vd.path] = done
        return done


class _SourcesOnly:
    """Each version's sources, its other fields left unparsed (what a whole mirror needs)."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __call__(self, vd: VersionDir) -> list[Source]:
        try:
            return read_sources(vd.opam.decode("utf-8", "replace"),
                                None if vd.url is None else vd.url.decode("utf-8", "replace"))
        except ValueError as exc:
            raise PlanError(f"{self.where}: {vd.path}/opam: {exc}") from None


def _add_sources(archives: ArchivePlan, versions: Iterable[VersionDir],
                 sources: Callable[[VersionDir], list[Source]]) -> None:
    for vd in versions:
        for source in sources(vd):
            archives.add(vd.label, source)


def _archive_plan(catalog: Catalog, repo_url: str, where: str,
                  ctx: PlanContext) -> ArchivePlan:
    """Where the archives go (the repository's own archive mirror) and where they come from.

    The ``repo`` file's ``archive-mirrors`` says where clients look: opam.ocaml.org says
    ``"cache"``, relative to the repository, so the mirror's ``cache/`` is found by every
    client of the mirror, and upstream's is asked first.
    """
    mirrors: tuple[str, ...] = ()
    if catalog.repo is not None:
        try:
            items = parse_file(catalog.repo.decode("utf-8", "replace"))
        except ValueError as exc:
            raise PlanError(f"{where}: repo: {exc}") from None
        for item in items:
            if isinstance(item, Field) and item.name == "archive-mirrors":
                value = item.value
                if isinstance(value, str):
                    mirrors = (value,)
                elif isinstance(value, List) and all(isinstance(v, str) for v in value.items):
                    mirrors = tuple(str(v) for v in value.items)
                else:
                    raise PlanError(f"{where}: repo: archive-mirrors is not a string or a list "
                                    "of strings")
    cache_dir: str | None = None
    upstream: list[str] = []
    for mirror in mirrors:
        if "://" in mirror:
            if fetchable(mirror):
                upstream.append(mirror.rstrip("/"))
            continue
        try:
            rel = validate_relpath(mirror.strip("/"))
        except (UnsafePathError, ValueError):
            continue
        cache_dir = cache_dir or rel
        upstream.append(f"{repo_url}/{rel}")
    if cache_dir is None:
        ctx.log.warning("%s: the repo file names no archive mirror inside the repository "
                        "(archive-mirrors); clients of the mirror will not look in its "
                        "cache/ unless configured to (see docs/opam.md)", where)
    return ArchivePlan(cache_dir or "cache", upstream)


def _keep_unreferenced(ctx: PlanContext, options: OpamOptions, archives: ArchivePlan,
                       repo_url: str) -> list[Artifact]:
    """Keep the previous snapshot's cache files that the plan does not name (or not)."""
    if options.prune_cache or ctx.previous is None:
        return []
    prefix = archives.cache_dir + "/"
    old = {p: e for p, e in ctx.previous.files.items()
           if p.startswith(prefix) and e.stale_since is None and p not in archives.paths}
    archives.kept_unreferenced = len(old)
    if not old:
        return []
    if not ctx.keep_previous(old):
        lost = [p for p in sorted(old) if not ctx.keep_previous([p])]
        archives.kept_unreferenced -= len(lost)
        for path in lost:
            ctx.log.info("not kept: %s (no package lists it, and it is not in the mirror as "
                         "the last snapshot recorded it)", path)
    return []


async def _exists(ctx: PlanContext, url: str) -> bool:
    """Whether upstream publishes ``url`` (a HEAD request; nothing is downloaded)."""
    try:
        resp = await ctx.get(url, method="HEAD", max_bytes=0)
    except FetchError as exc:
        if exc.status in _ABSENT:
            return False
        raise PlanError(f"{url}: {exc.reason}") from None
    return resp.status_code < 300


def _note(ctx: PlanContext, catalog: Catalog, versions: list[VersionDir],
          archives: ArchivePlan, index: str, unsatisfied: list[str] | None = None) -> None:
    note: dict[str, Any] = {
        "index": index,
        "packages": len({vd.name for vd in versions}),
        "versions": len(versions),
        "archives": archives.archives,
        "cache_files": len(archives.paths),
        "kept_unreferenced": archives.kept_unreferenced,
        "skipped": archives.skipped.counts(),
    }
    if len(versions) != len(catalog.versions):
        note["upstream_versions"] = len(catalog.versions)
    if unsatisfied:
        note["unsatisfied"] = unsatisfied
    ctx.note("opam", note)
