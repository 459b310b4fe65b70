"""Whole subdirs: every package, and the channel's index files byte for byte."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio.to_thread
import ijson

from mirrorkit.api import Artifact, Fetched, PlanContext

from .options import CondaOptions
from .plancache import PlanCache
from .repodata import SECTIONS, PackageRef, iter_records, package_ref
from .upstream import exists
from .variants import COMPRESSED, CURRENT, OPTIONAL, REPODATA, decompressed_sha256, missing_from

__all__ = ["WholeSubdir", "plan_channeldata"]

# zstd, bz2 and sha256 release the GIL: a variant's check runs beside the parse
_VARIANT_CHECKS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="conda-variants")


class WholeSubdir:
    """One subdir mirrored whole: its index files fetched, then its packages, then checks.

    The packages come from a plain generator, not an async one: the registry's ``plan``
    yields them straight on, one async generator for 400,000 of them instead of two.
    """

    def __init__(self, options: CondaOptions, ctx: PlanContext, subdir: str) -> None:
        self.ctx = ctx
        self.subdir = subdir
        self.channel = options.channel_url
        self.rel = f"{subdir}/{REPODATA}"
        self.fetched: dict[str, Fetched] = {}
        self.changed = False
        self._parsed: tuple[str, dict[str, str] | None] | None = None  # sha256, known
        self._decompressed: dict[str, Future[str | None]] = {}  # variant -> its content's sha256
        self._stop = threading.Event()  # the plan stopped: the checks are not needed

    async def fetch_index(self) -> None:
        """Fetch repodata.json and the variants upstream publishes (committed last)."""
        ctx, channel, subdir = self.ctx, self.channel, self.subdir
        self.fetched[REPODATA] = await ctx.fetch(
            Artifact.index(self.rel, f"{channel}/{self.rel}"))
        for name in OPTIONAL:
            url = f"{channel}/{subdir}/{name}"
            if await exists(ctx, url):
                self.fetched[name] = await ctx.fetch(Artifact.index(f"{subdir}/{name}", url))
        self.changed = any(got.changed for got in self.fetched.values())
        if self.changed:  # decompressed on the other core while repodata.json is parsed
            self._decompressed = {
                name: _VARIANT_CHECKS.submit(decompressed_sha256, name,
                                             self.fetched[name].path, self._stop)
                for name in COMPRESSED if name in self.fetched}

    def packages(self) -> Iterator[Artifact]:
        """The packages repodata lists (none when the core keeps them all unchanged)."""
        ctx, rel, channel = self.ctx, self.rel, self.channel
        cache = PlanCache(ctx.work_dir, self.subdir)
        previous = ctx.previous.files.get(rel) if ctx.previous is not None else None
        if not self.changed and previous is not None:
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
        known: dict[str, str] | None = {} if CURRENT in self.fetched else None
        # a dry run's work directory is scratch: a plan cache there would never be read
        writer = None if ctx.dry_run else cache.writer()
        try:
            records = iter_records(self.fetched[REPODATA].path, rel, hasher)
            for section, filename, record in records:
                ref = package_ref(self.subdir, section, filename, record, rel)
                if writer is not None:
                    writer.add(ref)
                if known is not None:
                    known[filename] = ref.hexdigest
                yield ref.artifact(channel)
        except BaseException:
            self._stop.set()
            if writer is not None:
                writer.discard()
            raise
        repodata_sha256 = hasher.hexdigest()
        if writer is not None:
            writer.commit(repodata_sha256)
        self._parsed = (repodata_sha256, known)

    async def check(self) -> None:
        """After :meth:`packages`: fail the run if a fetched variant disagrees with it."""
        if self.changed and self._parsed is not None:
            decompressed = {name: await anyio.to_thread.run_sync(future.result)
                            for name, future in self._decompressed.items()}
            await _check_variants(self.ctx, self.subdir, self.fetched, decompressed,
                                  *self._parsed)


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


async def _check_variants(ctx: PlanContext, subdir: str, fetched: dict[str, Fetched],
                          decompressed: dict[str, str | None], repodata_sha256: str,
                          known: dict[str, str] | None) -> None:
    """Fail the run (nothing committed) when a variant disagrees with repodata.json.

    Upstream rewrites its files one after another; a run that caught it halfway would
    otherwise serve a ``.zst`` that rattler reads and a ``.json`` that conda reads, each
    naming different packages.
    """
    for name, got in decompressed.items():
        if got != repodata_sha256:
            ctx.fail(f"{subdir}/{name}", f"does not decompress to the {REPODATA} fetched "
                     "in the same run (upstream was changing?); run again later")
    if known is not None:
        try:
            stray = missing_from(_records(fetched[CURRENT].path), known)
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
