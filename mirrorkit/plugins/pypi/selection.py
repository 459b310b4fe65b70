"""Which files of a project the mirror keeps: by requirement, by target, by version count.

A root requirement keeps every version it matches (a bare name: every file, as
bandersnatch's allowlist does). A dependency keeps the newest ``dep_versions`` versions
that match it and have a file for the targets (yanked versions only when nothing else
matches, as pip does), which is what pip picks when it resolves the same requirement.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from .simple import DistFile, ProjectPage
from .targets import Targets
from .versions import file_version, is_wheel, wheel_tags

__all__ = ["Edge", "ProjectFiles"]


@dataclass(frozen=True, slots=True)
class Edge:
    """A requirement on a project: from the command line (root) or from a dependency."""

    name: str                    # normalised
    specifier: SpecifierSet
    extras: frozenset[str]
    root: bool
    origin: str                  # for messages: "--package" or "alpha 1.0"


class ProjectFiles:
    """One project's usable files, grouped by version, and the selection made so far."""

    def __init__(self, page: ProjectPage, targets: Targets, sdist: bool) -> None:
        self.page = page
        self.by_version: dict[Version, list[DistFile]] = {}
        self.unversioned: list[DistFile] = []
        for f in page.files:
            if is_wheel(f.filename):
                if not targets.any_wheel and not targets.wheel_fits(wheel_tags(f.filename)):
                    continue
            elif not sdist:
                continue
            if not targets.python_fits(f.requires_python):
                continue
            v = file_version(f.filename)
            if v is None:
                self.unversioned.append(f)
            else:
                self.by_version.setdefault(v, []).append(f)
        self.selected: set[Version] = set()
        self.all_files = False   # a bare root name: unversioned files too

    def versions_for(self, edge: Edge, keep: int) -> list[Version]:
        """The versions ``edge`` selects (newest first for dependencies)."""
        if edge.root:
            if not str(edge.specifier):
                self.all_files = True
                return list(self.by_version)
            return [v for v in self.by_version if edge.specifier.contains(v)]
        live = [v for v, files in self.by_version.items()
                if any(f.yanked is False for f in files)]
        matching = list(edge.specifier.filter(live)) or list(
            edge.specifier.filter(list(self.by_version)))
        matching.sort(reverse=True)
        return matching if keep == 0 else matching[:keep]

    def files(self) -> list[DistFile]:
        """The selected files, in upstream's order."""
        keep = {id(f) for v in self.selected for f in self.by_version.get(v, [])}
        if self.all_files:
            keep.update(id(f) for f in self.unversioned)
        return [f for f in self.page.files if id(f) in keep]

