"""The dependency closure: requirement edges in, the versions of every project they select.

Worked in waves, one per dependency depth: every project page of a wave is asked for at
once, then every metadata file those versions need, so the closure costs a few round trips
of latency, not one per project. Each (version, extra) is expanded once. How the pages and
files are had is the planner's (:mod:`.projects`); this module only asks for them in bulk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from packaging.utils import canonicalize_name
from packaging.version import Version

from .selection import Edge, ProjectFiles
from .simple import DistFile
from .targets import Targets

__all__ = ["LoadProjects", "LoadRequires", "Resolver", "VersionFiles"]

#: the usable files of each project named
LoadProjects = Callable[[list[str]], Awaitable[dict[str, ProjectFiles]]]
#: one version of a project: its name, its ProjectFiles, the version's files
VersionFiles = tuple[str, ProjectFiles, list[DistFile]]
#: the Requires-Dist of each version (None: unknown), reading metadata files as needed
LoadRequires = Callable[[list[VersionFiles]], Awaitable[list[list[str] | None]]]


class Resolver:
    def __init__(self, targets: Targets, keep: int, with_deps: bool,
                 load_projects: LoadProjects, load_requires: LoadRequires,
                 warn: Callable[[str], None]) -> None:
        self.targets = targets
        self.keep = keep
        self.with_deps = with_deps
        self.load_projects = load_projects
        self.load_requires = load_requires
        self.warn = warn
        self.projects: dict[str, ProjectFiles] = {}
        self._expanded: set[tuple[str, Version, str]] = set()
        self._seen_edges: set[tuple[str, str, frozenset[str], bool]] = set()

    async def run(self, roots: Iterable[Edge]) -> dict[str, ProjectFiles]:
        wave = list(roots)
        while wave:
            wave = await self._wave(wave)
        return self.projects

    async def _wave(self, edges: list[Edge]) -> list[Edge]:
        edges = [e for e in edges if self._first_time(e)]
        new = sorted({e.name for e in edges if e.name not in self.projects})
        if new:
            self.projects.update(await self.load_projects(new))
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
        asked = sorted({(n, v) for n, v, _ in todo})
        answers = await self.load_requires([(n, self.projects[n], self.projects[n].by_version[v])
                                            for n, v in asked])
        found = dict(zip(asked, answers, strict=True))
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
