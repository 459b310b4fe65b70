"""Planning project by project: pages (cached by serial or ETag), selection, closure.

The order of what is yielded is the consistency promise in small: a project's files, then
its pages; the root pages after every project page. The core commits every file before any
page and keeps the previous pages when a file fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import anyio
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from mirrorkit.api import Artifact, Fetched, FetchError, PlanContext, storable_url

from .emit import ROOT_ORDER, dist_artifact, metadata_artifact, project_artifacts
from .fetch import fetch_project
from .metadata import MetadataError, requires_from_file, requires_from_metadata
from .options import PyPIOptions
from .pages import Pages
from .render import root_html, root_json
from .reqspec import split_plain
from .resolve import Resolver, VersionFiles
from .selection import Edge, ProjectFiles
from .simple import DistFile, RootListing
from .state import ProjectRows, ProjectState
from .targets import Targets
from .together import each_at_once

__all__ = ["ProjectPlanner"]

#: projects planned at once without --with-deps (their pages are then dropped from memory)
CHUNK = 64


#: the plugin state file of the root listing's serial at the last run (``{index_url, serial}``)
ROOT_STATE = "root.json"


class ProjectPlanner:
    def __init__(self, options: PyPIOptions, ctx: PlanContext, pages_root: Path,
                 root: RootListing) -> None:
        self.options = options
        self.ctx = ctx
        self.index_url = options.index_url
        self.targets = Targets(tuple(options.python_versions), tuple(options.platforms))
        self.rows = ProjectRows(ctx.state)
        self.pages = Pages(ctx, pages_root)
        self.states: dict[str, ProjectState] = {}
        self.root = root
        self.last_root_serial: int | None = None

    async def plan(self, requirements: list[str]) -> AsyncIterator[Artifact]:
        try:
            async for art in self._plan(requirements):
                yield art
        finally:
            self.rows.close()

    async def _plan(self, requirements: list[str]) -> AsyncIterator[Artifact]:
        saved = await self.ctx.state.read_json(ROOT_STATE, version=1) or {}
        if saved.get("index_url") == storable_url(self.index_url):
            self.last_root_serial = saved.get("serial")
        await self.rows.open()
        listed: list[tuple[str, str, int | None]] = []
        async for art in self._plan_projects(self._root_edges(requirements), listed):
            yield art
        for art in self._root_pages(listed):
            yield art
        root_state = {"index_url": storable_url(self.index_url), "serial": self.root.serial}
        if root_state != saved:
            self.ctx.state.write_json(ROOT_STATE, root_state, version=1)

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
                                self._load_projects, self._load_requires, self._warn)
            projects = await resolver.run(chunk)
            changed = [(norm, state) for norm in projects
                       if (state := self.states.pop(norm)).dirty]
            await self.rows.save(changed)
            for norm in sorted(projects):
                pf = projects[norm]
                files = pf.files()
                if not files:
                    continue
                listed.append((pf.page.name, norm, pf.page.serial))
                for art in project_artifacts(pf.page.name, norm, files, pf.page.serial,
                                             self.pages):
                    yield art

    def _root_pages(self, listed: list[tuple[str, str, int | None]]) -> list[Artifact]:
        listed.sort(key=lambda item: item[1])
        return self.pages.artifacts("simple", root_html([(d, n) for d, n, _ in listed]),
                                    root_json(listed, self.root.serial), ROOT_ORDER)

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

    async def _load_projects(self, names: list[str]) -> dict[str, ProjectFiles]:
        """Each project's page: from its row when the serials say it holds, else asked for
        (all at once, conditionally when the row has validators)."""
        stale: list[tuple[str, ProjectState | None]] = []
        for norm in names:
            state = self.rows.load(norm, self.index_url)
            if state is not None and self._fresh(norm, state):
                self.states[norm] = state
            else:
                stale.append((norm, state))
        await each_at_once(self._ask_for_page, stale)
        return {norm: ProjectFiles(self.states[norm].page, self.targets, self.options.sdist)
                for norm in names}

    async def _ask_for_page(self, item: tuple[str, ProjectState | None]) -> None:
        norm, state = item
        page, validators = await fetch_project(self.ctx, self.index_url, norm,
                                               state.validators if state else None)
        if page is not None:
            requires = state.requires if state else {}
            live = {f.sha256 for f in page.files}
            state = ProjectState(self.index_url, page, validators,
                                 {h: r for h, r in requires.items() if h in live}, dirty=True)
        else:  # 304: the row's page holds
            assert state is not None
            listed = self.root.projects.get(norm)
            if listed is not None and state.page.serial != listed:
                state.page.serial, state.dirty = listed, True
        self.states[norm] = state

    # --------------------------------------------------------------- metadata
    async def _load_requires(self, versions: list[VersionFiles]) -> list[list[str] | None]:
        """For each version, the union of Requires-Dist over its files; each file is read
        once (every unread one at once), and what it says is kept in the project's row."""
        sources = [(norm, _requires_sources(files)) for norm, _pf, files in versions]
        unread = {(norm, f.sha256): f for norm, srcs in sources
                  for f in srcs if f.sha256 not in self.states[norm].requires}
        await self._read_requires(list(unread.items()))
        out: list[list[str] | None] = []
        for norm, srcs in sources:
            known = self.states[norm].requires
            union: list[str] = []
            found = False
            for f in srcs:
                reqs = known.get(f.sha256)
                if reqs is not None:
                    found = True
                    union += [r for r in reqs if r not in union]
            out.append(union if found else None)
        return out

    async def _read_requires(self, unread: list[tuple[tuple[str, str], DistFile]]) -> None:
        """Read the metadata of the ``unread`` files into their projects' rows. A file that
        cannot be had or read is not remembered (the next run asks again); a file of the
        plan that could not be had fails the run on its own."""
        if self.ctx.dry_run:  # nothing is downloaded: read them without keeping them
            await each_at_once(self._peek_requires, unread)
            return
        by_path = {}
        for (norm, _sha), f in unread:
            art = metadata_artifact(f) if f.metadata_sha256 is not None else dist_artifact(f)
            by_path[art.path] = (norm, f, art)
        async for art, got in self.ctx.fetch_all(a for _n, _f, a in by_path.values()):
            norm, f, _ = by_path[art.path]
            if isinstance(got, FetchError):
                self._warn(f"cannot read the dependencies of {f.filename}: {got}")
                continue
            try:
                reqs = await anyio.to_thread.run_sync(_requires_in, got, f)
            except MetadataError as exc:
                self._warn(f"cannot read the dependencies of {f.filename}: {exc}")
                continue
            self._remember(norm, f, reqs)

    async def _peek_requires(self, item: tuple[tuple[str, str], DistFile]) -> None:
        (norm, _sha), f = item
        art = metadata_artifact(f) if f.metadata_sha256 is not None else dist_artifact(f)
        assert art.url is not None
        reqs: list[str] | None
        try:
            body = (await self.ctx.get(art.url, max_bytes=1024 * 1024 * 1024)).content
            if art.digest is not None and hashlib.sha256(body).hexdigest() != art.digest.hex:
                raise MetadataError(f"{art.url}: sha256 mismatch")
            if f.metadata_sha256 is not None:
                reqs = requires_from_metadata(body)
            else:
                reqs = await anyio.to_thread.run_sync(requires_from_file, body, f.filename)
        except (FetchError, MetadataError) as exc:
            self._warn(f"cannot read the dependencies of {f.filename}: {exc}")
            return
        self._remember(norm, f, reqs)

    def _remember(self, norm: str, f: DistFile, reqs: list[str] | None) -> None:
        state = self.states[norm]
        state.requires[f.sha256] = reqs
        state.dirty = True


def _requires_sources(files: list[DistFile]) -> list[DistFile]:
    """The files of a version whose metadata is read: every one with a ``.metadata`` side
    file, else one wheel (any wheel's METADATA says it), else the first file."""
    sources = [f for f in files if f.metadata_sha256 is not None]
    if sources:
        return sources
    wheels = [f for f in files if f.filename.endswith(".whl")]
    return wheels[:1] or files[:1]


def _requires_in(got: Fetched, f: DistFile) -> list[str] | None:
    """Requires-Dist from a fetched ``.metadata`` file or distribution (on a worker
    thread: the bytes of a bucket mirror's kept file are read back on first use)."""
    if f.metadata_sha256 is not None:
        return requires_from_metadata(got.read_bytes())
    return requires_from_file(got.path, f.filename)
