"""The ``downloads/`` tree: formula sources (``--sources``) and casks (``--cask``).

Read from the API files the API planner fetched and checked, right after it read them. The
files are blobs: each is verified against the API's sha256 (an allowed unchecked cask
against nothing, and fetched again every run: see :mod:`.registry`) and published before
the API files that name it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from mirrorkit.api import Artifact, PlanError

from .downloads import Download, cask_downloads, formula_downloads, source_closure
from .jws import read_jws_payload
from .planner import HomebrewPlan, in_thread

__all__ = ["DownloadsPlanner"]

log = logging.getLogger("mirrorkit.registry.homebrew")


class DownloadsPlanner:
    """Reads what ``downloads/`` holds (:meth:`select`: a cask it must refuse fails the run
    there, before anything is planned), then yields it (:meth:`plan`)."""

    async def select(self, state: HomebrewPlan) -> None:
        opts = state.options
        if not opts.sources and not opts.casks:
            return
        downloads: list[Download] = []
        if opts.sources:
            downloads += await in_thread(partial(self._sources, state))
        if opts.casks:
            payload = await in_thread(partial(self._payload, state, "cask.jws.json"))
            downloads += cask_downloads(payload, opts.casks, state.tags,
                                        allow_unchecked=opts.allow_unchecked_casks,
                                        where=f"{opts.api_url}/cask.jws.json")
        state.ctx.log.info("homebrew: %d files for the download cache", len(downloads))
        state.downloads = downloads

    async def plan(self, state: HomebrewPlan) -> AsyncIterator[Artifact]:
        seen: set[str] = set()
        for item in state.downloads:
            if item.path in seen:
                continue
            seen.add(item.path)
            yield Artifact.blob(item.path, item.url, sha256=item.sha256,
                                headers=dict(item.headers))

    @staticmethod
    def _payload(state: HomebrewPlan, name: str) -> Any:
        got = state.api_files.get(f"api/{name}")
        if got is None or state.api_key is None:
            raise PlanError(f"api/{name}: not fetched")  # the API planner runs first
        return read_jws_payload(got.path, f"{state.options.api_url}/{name}", state.api_key)

    @staticmethod
    def _sources(state: HomebrewPlan) -> list[Download]:
        opts = state.options
        where = f"{opts.api_url}/formula.jws.json"
        payload = DownloadsPlanner._payload(state, "formula.jws.json")
        names: list[str] | None = None
        if opts.formulae:
            names, missing = source_closure(payload, opts.formulae, where, deps=opts.deps)
            for dep in missing:
                log.warning("homebrew: dependency %s is not in formula.jws.json", dep)
        downloads, skipped = formula_downloads(payload, names, opts.ruby_source_url, where)
        for why in skipped:
            log.warning("homebrew: --sources leaves out %s", why)
        return downloads
