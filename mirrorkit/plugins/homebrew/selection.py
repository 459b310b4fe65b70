"""Which bottles the mirror holds: per selected tag, the selected formulae and their closure.

Both client generations are served: brew 6 installs what ``internal/packages.<tag>`` names,
brew 4.x/5.x what they pick from ``formula.jws.json``. Upstream generates both from the
same commit, so they agree; when they do not (a publish caught half-way), the union is
mirrored, since blobs are content-addressed and cost nothing to hold twice by name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from mirrorkit.api import PlanError

from .api import LegacyFormula, PackagesIndex
from .deps import closure
from .oci import BottleRef
from .tags import resolve_bottle_tag

__all__ = ["select_bottles", "select_formulae"]

log = logging.getLogger("mirrorkit.registry.homebrew")


def select_formulae(index: PackagesIndex, roots: Sequence[str], *, deps: bool) -> list[str]:
    """The formulae to mirror on ``index.tag``: every one, or ``roots`` (+ their closure)."""
    if not roots:
        return list(index.formulae)
    resolved = []
    for name in roots:
        canonical = index.canonical(name)
        if canonical is None:
            raise PlanError(f"--formula {name}: no such formula in "
                            f"internal/packages.{index.tag}.jws.json")
        resolved.append(canonical)
    if not deps:
        return resolved
    warned: set[str] = set()

    def unknown(dep: str, dependent: str) -> None:
        if dep not in warned:
            warned.add(dep)
            log.warning("%s depends on %s, which is not in internal/packages.%s.jws.json",
                        dependent, dep, index.tag)

    return closure(resolved, lambda n: index.formulae[n].deps, unknown, index.canonical)


def select_bottles(
    packages: Mapping[str, PackagesIndex],
    legacy: Mapping[str, LegacyFormula],
    roots: Sequence[str],
    *,
    deps: bool,
) -> list[BottleRef]:
    """Every bottle a client on one of ``packages``' tags may install, sorted and unique."""
    refs: set[BottleRef] = set()
    for tag, index in packages.items():
        names: Iterable[str] = (
            select_formulae(index, roots, deps=deps) if roots
            else [*index.formulae, *(n for n in legacy if n not in index.formulae)]
        )
        for name in names:
            bottle = index.formulae.get(name)
            if bottle is not None and bottle.sha256 is not None:
                refs.add(BottleRef(name, bottle.pkg_version, bottle.rebuild, bottle.bottle_tag,
                                   bottle.sha256))
            old = legacy.get(name)
            if old is not None and old.files:
                files = dict(old.files)
                picked = resolve_bottle_tag(tag, (t for t, _ in old.files))
                if picked is not None:
                    refs.add(BottleRef(name, old.pkg_version, old.rebuild, picked, files[picked]))
    return sorted(refs)
