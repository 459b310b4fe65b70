"""Whole subdirs: every package, and the channel's index files byte for byte.

Every index file (each subdir's ``repodata.json`` and the variants the channel publishes,
``channeldata.json``) is fetched first, all at once; then ``ctx.keep_previous_plan()``
keeps the previous snapshot when all of them are as the last run found them. Otherwise
each subdir whose index files did not change keeps its packages from the previous snapshot
(``ctx.keep_previous(paths)``), and only the others are parsed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio.to_thread
import ijson

from mirrorkit.api import Artifact, Fetched, FetchError, PlanContext

from .options import CondaOptions
from .planned import PlannedSubdirs, previous_packages
from .repodata import SECTIONS, iter_records, package_ref
from .upstream import exists, forget_inputs
from .variants import COMPRESSED, CURRENT, OPTIONAL, REPODATA, decompressed_sha256, missing_from

__all__ = ["WholeMirror", "WholeSubdir"]

CHANNELDATA = "channeldata.json"
# zstd and bz2 release the GIL: a variant's check runs beside the parse
_VARIANT_CHECKS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="conda-variants")


class WholeSubdir:
    """One subdir mirrored whole: its index files, then its packages, then checks.

    The packages come from a plain generator, not an async one: the registry's ``plan``
    yields them straight on, one async generator for 400,000 of them instead of two.
    """

    def __init__(self, ctx: PlanContext, channel: str, subdir: str) -> None:
        self.ctx = ctx
        self.subdir = subdir
        self.channel = channel
        self.variants: list[str] = []  # the optional index files the channel publishes
        self.fetched: dict[str, Fetched] = {}
        self.count = 0  # packages planned by :meth:`packages`
        self._known: dict[str, str] | None = None  # filename -> digest, for current_repodata
        self._decompressed: dict[str, Future[str | None]] = {}  # variant -> content sha256
        self._stop = threading.Event()  # the plan stopped: the checks are not needed

    async def probe(self) -> None:
        """Which optional index files the channel publishes (HEAD requests)."""
        self.variants = [name for name in OPTIONAL
                         if await exists(self.ctx, f"{self.channel}/{self.subdir}/{name}")]

    def index_artifacts(self) -> list[Artifact]:
        """repodata.json and the published variants (committed after the packages)."""
        return [Artifact.index(f"{self.subdir}/{name}", f"{self.channel}/{self.subdir}/{name}")
                for name in [REPODATA, *self.variants]]

    @property
    def repodata(self) -> Fetched:
        return self.fetched[REPODATA]

    @property
    def changed(self) -> bool:
        """An index file differs from the previous snapshot's (or is new to it)."""
        return any(got.changed for got in self.fetched.values())

    def start_checks(self) -> None:
        """Decompress the changed subdir's variants on the other core while it is parsed."""
        self._decompressed = {
            name: _VARIANT_CHECKS.submit(decompressed_sha256, name, self.fetched[name].path,
                                         self._stop)
            for name in COMPRESSED if name in self.fetched}

    def packages(self) -> Iterator[Artifact]:
        """Every package repodata lists."""
        rel, channel, subdir = f"{self.subdir}/{REPODATA}", self.channel, self.subdir
        known: dict[str, str] | None = {} if self.changed and CURRENT in self.fetched else None
        count = 0
        try:
            for section, filename, record in iter_records(self.repodata.path, rel):
                ref = package_ref(subdir, section, filename, record, rel)
                if known is not None:
                    known[filename] = ref.hexdigest
                count += 1
                yield ref.artifact(channel)
        except BaseException:
            self._stop.set()
            raise
        self.count = count
        self._known = known

    async def check(self) -> None:
        """After :meth:`packages`: fail the run if a fetched variant disagrees with it.

        Only for changed index files: unchanged ones are the previous snapshot's, which
        were checked when they came.
        """
        if not self.changed:
            return
        decompressed = {name: await anyio.to_thread.run_sync(future.result)
                        for name, future in self._decompressed.items()}
        _check_variants(self.ctx, self.subdir, self.fetched, decompressed,
                        self.repodata.sha256, self._known)


class WholeMirror:
    """The subdirs of a whole-subdir mirror, and its channeldata."""

    def __init__(self, options: CondaOptions, ctx: PlanContext) -> None:
        self.ctx = ctx
        self.channel = options.channel_url
        self.subdirs = [WholeSubdir(ctx, self.channel, s) for s in options.all_subdirs]
        self.planned = PlannedSubdirs(ctx)
        self.kept: list[str] = []
        self.parsed: list[str] = []

    async def fetch_indexes(self) -> bool:
        """Fetch every index file; True when the core keeps the previous plan whole."""
        ctx = self.ctx
        for sub in self.subdirs:  # one at a time: the plan record lists answers in order
            await sub.probe()
        arts = [art for sub in self.subdirs for art in sub.index_artifacts()]
        channeldata = f"{self.channel}/{CHANNELDATA}"
        if await exists(ctx, channeldata):
            # it names packages of every subdir: committed after their repodata files
            arts.append(Artifact.index(CHANNELDATA, channeldata, order=1))
        by_path = {}
        async for art, got in ctx.fetch_all(arts):
            if isinstance(got, FetchError):
                raise got
            by_path[art.path] = got
        for sub in self.subdirs:
            sub.fetched = {name: by_path[f"{sub.subdir}/{name}"]
                           for name in [REPODATA, *sub.variants]}
        if ctx.keep_previous_plan():
            ctx.note("conda", {"kept_plan": True})
            return True
        await forget_inputs(ctx)
        await self.planned.load()
        return False

    def to_parse(self) -> list[WholeSubdir]:
        """The subdirs to parse; the others keep their packages from the previous snapshot."""
        previous = previous_packages(self.ctx.previous, [s.subdir for s in self.subdirs])
        out = []
        for sub in self.subdirs:
            paths = previous[sub.subdir]
            if (not sub.changed and self.planned.holds_all(sub.subdir, sub.repodata.sha256, paths)
                    and self.ctx.keep_previous(paths)):
                self.ctx.log.debug("%s/%s unchanged: its %d packages kept", sub.subdir,
                                   REPODATA, len(paths))
                self.planned.planned(sub.subdir, sub.repodata.sha256, len(paths))
                self.kept.append(sub.subdir)
            else:
                if sub.changed:
                    sub.start_checks()
                out.append(sub)
        return out

    def parsed_one(self, sub: WholeSubdir) -> None:
        self.planned.planned(sub.subdir, sub.repodata.sha256, sub.count)
        self.parsed.append(sub.subdir)

    def finish(self) -> None:
        self.planned.save()
        self.ctx.note("conda", {"kept_subdirs": self.kept, "parsed_subdirs": self.parsed})


def _check_variants(ctx: PlanContext, subdir: str, fetched: dict[str, Fetched],
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
