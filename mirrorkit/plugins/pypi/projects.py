"""Planning project by project: pages (cached by serial or ETag), selection, closure.

The order of what is yielded is the consistency promise in small: a project's files, then
its pages; the root pages after every project page. The core commits every file before any
page and keeps the previous pages when a file fails.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import anyio
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from mirrorkit.api import Artifact, FetchError, PlanContext, storable_url

from .emit import (
    ROOT_ORDER,
    dist_artifact,
    metadata_artifact,
    page_artifacts,
    project_artifacts,
)
from .fetch import fetch_project
from .metadata import MetadataError, requires_from_file, requires_from_metadata
from .options import PyPIOptions
from .render import root_html, root_json
from .reqspec import split_plain
from .resolve import Resolver
from .selection import Edge, ProjectFiles
from .simple import DistFile, RootListing
from .state import ProjectState, StateStore
from .targets import Targets

__all__ = ["ProjectPlanner"]

#: projects planned at once without --with-deps (their pages are then dropped from memory)
CHUNK = 64


class ProjectPlanner:
    def __init__(self, options: PyPIOptions, ctx: PlanContext, base: Path,
                 root: RootListing) -> None:
        self.options = options
        self.ctx = ctx
        self.index_url = options.index_url
        self.targets = Targets(tuple(options.python_versions), tuple(options.platforms))
        self.store = StateStore(base)
        self.pages_root = base / "pages"
        self.states: dict[str, ProjectState] = {}
        self.root = root
        self.last_root_serial: int | None = None
        self.complete = True   # False when something stayed unknown: the plan is not cached

    async def plan(self, requirements: list[str]) -> AsyncIterator[Artifact]:
        try:
            async for art in self._plan(requirements):
                yield art
        finally:
            self.store.close()

    async def _plan(self, requirements: list[str]) -> AsyncIterator[Artifact]:
        saved = self.store.read_json("root.json") or {}
        if saved.get("index_url") == storable_url(self.index_url):
            self.last_root_serial = saved.get("serial")
        # pages in a directory per project before they were flat: written again once
        shutil.rmtree(self.pages_root / "simple", ignore_errors=True)
        self.pages_root.mkdir(parents=True, exist_ok=True)
        listed: list[tuple[str, str, int | None]] = []
        async for art in self._plan_projects(self._root_edges(requirements), listed):
            yield art
        for art in self._root_pages(listed):
            yield art
        self.store.write_json("root.json", {"index_url": storable_url(self.index_url),
                                            "serial": self.root.serial})

    def _root_edges(self, requirements: list[str]) -> list[Edge]:
        edges = []
        for text in requirements:
            plain = split_plain(text)
            if plain is not None:
                name, extras, spec = plain[0], plain[1], SpecifierSet(plain[2])
            else:  # markers, odd spacing: packaging's full parser (and its import) is needed
                from packaging.requirements import Requirement

                req = Requirement(text)
                name, extras, spec = req.name, sorted(req.extras), req.specifier
            edges.append(Edge(canonicalize_name(name), spec,
                              frozenset(canonicalize_name(e) for e in extras), True,
                              "the requirements given"))
        return edges

    async def _plan_projects(self, edges: list[Edge],
                             listed: list[tuple[str, str, int | None]]
                             ) -> AsyncIterator[Artifact]:
        if self.options.with_deps:
            chunks: Iterable[list[Edge]] = [edges]
        else:  # independent projects: a bounded number of pages in memory at once
            by_name: dict[str, list[Edge]] = {}
            for e in edges:
                by_name.setdefault(e.name, []).append(e)
            names = sorted(by_name)
            chunks = ([e for n in names[i:i + CHUNK] for e in by_name[n]]
                      for i in range(0, len(names), CHUNK))
        for chunk in chunks:
            resolver = Resolver(self.targets, self.options.dep_versions, self.options.with_deps,
                                self._load_project, self._load_requires, self._warn)
            projects = await resolver.run(chunk)
            for norm in projects:
                state = self.states.pop(norm)
                if state.dirty:
                    self.store.save(norm, state)
            self.store.flush()  # before the files are planned: a long run keeps what it read
            for norm in sorted(projects):
                pf = projects[norm]
                files = pf.files()
                if not files:
                    continue
                listed.append((pf.page.name, norm, pf.page.serial))
                for art in project_artifacts(pf.page.name, norm, files, pf.page.serial,
                                             self.pages_root):
                    yield art

    def _root_pages(self, listed: list[tuple[str, str, int | None]]) -> list[Artifact]:
        listed.sort(key=lambda item: item[1])
        return list(page_artifacts("simple", root_html([(d, n) for d, n, _ in listed]),
                                   root_json(listed, self.root.serial), self.pages_root,
                                   ROOT_ORDER))

    def _warn(self, message: str) -> None:
        self.ctx.log.warning("%s", message)

    # --------------------------------------------------------------- projects
    def _fresh(self, norm: str, state: ProjectState) -> bool:
        """True when upstream's serials say the cached page still holds (no request)."""
        if self.root.projects and norm not in self.root.projects:
            return False  # not listed upstream (any more): ask, and say so if it is gone
        listed = self.root.projects.get(norm)
        if listed is not None:
            return state.page.serial == listed
        return self.root.serial is not None and self.last_root_serial == self.root.serial

    async def _load_project(self, norm: str) -> ProjectFiles:
        state = self.store.load(norm, self.index_url)
        if state is None or not self._fresh(norm, state):
            page, etag = await fetch_project(self.ctx, self.index_url, norm,
                                             state.etag if state else None)
            if page is not None:
                requires = state.requires if state else {}
                state = ProjectState(self.index_url, page, etag, requires, dirty=True)
                live = {f.sha256 for f in page.files}
                state.requires = {h: r for h, r in requires.items() if h in live}
            else:
                assert state is not None
                listed = self.root.projects.get(norm)
                if listed is not None and state.page.serial != listed:
                    state.page.serial, state.dirty = listed, True
        self.states[norm] = state
        return ProjectFiles(state.page, self.targets, self.options.sdist)

    # --------------------------------------------------------------- metadata
    async def _load_requires(self, norm: str, pf: ProjectFiles,
                             files: list[DistFile]) -> list[str] | None:
        """The union of Requires-Dist over a version's files (one read per file, cached)."""
        state = self.states[norm]
        sources = [f for f in files if f.metadata_sha256 is not None]
        if not sources:
            wheels = [f for f in files if f.filename.endswith(".whl")]
            sources = wheels[:1] or files[:1]
        out: list[str] = []
        known = False
        for f in sources:
            if f.sha256 not in state.requires:
                try:
                    state.requires[f.sha256] = await self._read_requires(f)
                except (FetchError, MetadataError) as exc:
                    # not remembered: the next run asks again; the run fails on the file
                    self.complete = False
                    self._warn(f"cannot read the dependencies of {f.filename}: {exc}")
                    continue
                state.dirty = True
            reqs = state.requires[f.sha256]
            if reqs is not None:
                known = True
                out += [r for r in reqs if r not in out]
        return out if known else None

    async def _read_requires(self, f: DistFile) -> list[str] | None:
        if self.ctx.dry_run:  # nothing is downloaded: read it without keeping it
            return await self._peek_requires(f)
        if f.metadata_sha256 is not None:
            got = await self.ctx.fetch(metadata_artifact(f))
            raw = await anyio.to_thread.run_sync(got.path.read_bytes)
            return requires_from_metadata(raw)
        got = await self.ctx.fetch(dist_artifact(f))
        return await anyio.to_thread.run_sync(requires_from_file, got.path, f.filename)

    async def _peek_requires(self, f: DistFile) -> list[str] | None:
        art = metadata_artifact(f) if f.metadata_sha256 is not None else dist_artifact(f)
        assert art.url is not None
        resp = await self.ctx.get(art.url, max_bytes=1024 * 1024 * 1024)
        body = resp.content
        if art.digest is not None and hashlib.sha256(body).hexdigest() != art.digest.hex:
            raise MetadataError(f"{art.url}: sha256 mismatch")
        if f.metadata_sha256 is not None:
            return requires_from_metadata(body)
        return await anyio.to_thread.run_sync(requires_from_file, body, f.filename)
