"""The dependency closure: requirement edges in, the versions of every project they select.

Worked in waves, one per dependency depth: every project page of a wave is asked for at
once, then every metadata file those versions need, so the closure costs a few round trips
of latency, not one per project. Each (version, extra) is expanded once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import anyio
from packaging.utils import canonicalize_name
from packaging.version import Version

from .selection import Edge, ProjectFiles
from .simple import DistFile
from .targets import Targets

__all__ = ["Resolver", "gather"]

LoadProject = Callable[[str], Awaitable[ProjectFiles]]
#: the Requires-Dist of one version (None: unknown), reading metadata files as needed
LoadRequires = Callable[[str, ProjectFiles, list[DistFile]], Awaitable[list[str] | None]]


class Resolver:
    def __init__(self, targets: Targets, keep: int, with_deps: bool,
                 load_project: LoadProject, load_requires: LoadRequires,
                 warn: Callable[[str], None], limit: int = 64) -> None:
        self.targets = targets
        self.keep = keep
        self.with_deps = with_deps
        self.load_project = load_project
        self.load_requires = load_requires
        self.warn = warn
        self.projects: dict[str, ProjectFiles] = {}
        self._expanded: set[tuple[str, Version, str]] = set()
        self._seen_edges: set[tuple[str, str, frozenset[str], bool]] = set()
        self._limit = anyio.CapacityLimiter(limit)

    async def run(self, roots: Iterable[Edge]) -> dict[str, ProjectFiles]:
        wave = list(roots)
        while wave:
            wave = await self._wave(wave)
        return self.projects

    async def _wave(self, edges: list[Edge]) -> list[Edge]:
        edges = [e for e in edges if self._first_time(e)]
        await self._load_all({e.name for e in edges if e.name not in self.projects})
        todo: list[tuple[str, Version, str]] = []
        for edge in edges:
            pf = self.projects[edge.name]
            versions = pf.versions_for(edge, self.keep)
            if not versions:
                message = (f"no file of {edge.name} {edge.specifier or ''} fits the mirror's "
                           f"targets (required by {edge.origin})").replace("  ", " ")
                if edge.root:
                    from mirrorkit.api import PlanError

                    raise PlanError(message)
                self.warn(message)
            pf.selected.update(versions)
            if not self.with_deps:
                continue
            for v in versions:
                for extra in ("", *sorted(edge.extras)):
                    key = (edge.name, v, extra)
                    if key not in self._expanded:
                        self._expanded.add(key)
                        todo.append(key)
        if not todo:
            return []
        found: dict[tuple[str, Version], list[str] | None] = {}

        async def read(name: str, v: Version) -> None:
            async with self._limit:
                pf = self.projects[name]
                found[(name, v)] = await self.load_requires(name, pf, pf.by_version[v])

        await gather(read(n, v) for n, v in sorted({(n, v) for n, v, _ in todo}))
        out: list[Edge] = []
        for name, v, extra in todo:
            requires = found[(name, v)]
            if requires is None:
                self.warn(f"dependencies of {name} {v} are unknown (an sdist without "
                          "metadata 2.2): they are not mirrored")
                continue
            out += self._edges(name, v, extra, requires)
        return out

    def _edges(self, name: str, v: Version, extra: str, requires: list[str]) -> list[Edge]:
        # packaging's requirement parser is imported only when dependencies are followed
        from packaging.requirements import InvalidRequirement, Requirement

        out = []
        for text in requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                self.warn(f"{name} {v}: ignoring invalid Requires-Dist {text!r}")
                continue
            if req.url:
                continue
            if extra and req.marker is not None and self.targets.marker_applies(req.marker):
                continue  # already followed without the extra
            if extra and req.marker is None:
                continue
            if not self.targets.marker_applies(req.marker, extra):
                continue
            out.append(Edge(canonicalize_name(req.name), req.specifier,
                            frozenset(canonicalize_name(e) for e in req.extras), False,
                            f"{name} {v}" + (f" [{extra}]" if extra else "")))
        return out

    def _first_time(self, edge: Edge) -> bool:
        key = (edge.name, str(edge.specifier), edge.extras, edge.root)
        if key in self._seen_edges:
            return False
        self._seen_edges.add(key)
        return True

    async def _load_all(self, names: set[str]) -> None:
        async def one(name: str) -> None:
            async with self._limit:
                self.projects[name] = await self.load_project(name)

        await gather(one(name) for name in sorted(names))


async def gather(jobs: Iterable[Awaitable[None]]) -> None:
    """Run ``jobs`` at once; the first error is raised as itself (one clear line), not as
    an exception group."""
    errors: list[BaseException] = []

    async def guarded(job: Awaitable[None]) -> None:
        try:
            await job
        except Exception as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for job in jobs:
            tg.start_soon(guarded, job)
    if errors:
        raise errors[0]
