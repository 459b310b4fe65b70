"""Which package versions a selective mirror holds: the named ones and their closure.

The closure is "every version that satisfies", as for conda: each ``depends`` entry of a
selected version adds every version of that package its constraint may accept (see
:mod:`.formula` for how filters and variables are read), so a client solving from the
mirror finds every choice it would find upstream. Only the versions reached are parsed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mirrorkit.api import PlanError

from .formula import atoms, may_accept
from .index import Catalog, VersionDir
from .opamfile import PackageFile
from .options import split_package

__all__ = ["Selection", "select"]

log = logging.getLogger("mirrorkit.registry.opam")


@dataclass(slots=True)
class Selection:
    versions: dict[str, VersionDir] = field(default_factory=dict)  # by directory path
    unsatisfied: set[str] = field(default_factory=set)  # dependency names not in the index


def select(specs: Iterable[str], with_deps: bool, with_depopts: bool, catalog: Catalog,
           parse: Callable[[VersionDir], PackageFile]) -> Selection:
    """The versions ``specs`` name and, with ``with_deps``, their dependency closure.

    A spec that names nothing in the index is an error (a typo must not pass for an empty
    mirror); a dependency on a package the index does not have is only reported.
    """
    selection = Selection()
    queue: deque[VersionDir] = deque()

    def take(vd: VersionDir) -> None:
        if vd.path not in selection.versions:
            selection.versions[vd.path] = vd
            queue.append(vd)

    for spec in specs:
        name, version = split_package(spec)
        found = [vd for vd in catalog.by_name.get(name, ())
                 if version is None or vd.version == version]
        if not found:
            raise PlanError(f"no package {spec!r} in the repository's index")
        for vd in found:
            take(vd)
    if not with_deps:
        return selection
    while queue:
        vd = queue.popleft()
        package = parse(vd)
        formulas = [package.depends, package.depopts] if with_depopts else [package.depends]
        for formula in formulas:
            for name, constraint in atoms(formula):
                candidates = catalog.by_name.get(name)
                if not candidates:
                    selection.unsatisfied.add(name)
                    continue
                for candidate in candidates:
                    if candidate.path not in selection.versions and (
                            not constraint or may_accept(constraint, candidate.version,
                                                         vd.version)):
                        take(candidate)
    if selection.unsatisfied:
        log.info("%d dependencies are not in the repository: %s", len(selection.unsatisfied),
                 ", ".join(sorted(selection.unsatisfied)[:10]))
    return selection
