"""Which packages a selective mirror holds: records matching the specs, and their closure.

Match specs and versions are py-rattler's (the conda library behind pixi and mamba 2), so
``numpy >=2,<3``, ``python_abi 3.12.* *_cp312`` or ``openssl 3.*`` select exactly what a
conda client would accept. The closure is "every version that satisfies": each ``depends``
entry of a selected record adds every record that matches it, so a client solving from the
mirror finds the same choices it would upstream, for any combination of the roots.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from mirrorkit.api import PlanError

from .repodata import PackageRef

if TYPE_CHECKING:
    from rattler import MatchSpec, PackageRecord

__all__ = ["Candidate", "Catalog", "parse_spec", "select"]

log = logging.getLogger("mirrorkit.registry.conda")


def _rattler() -> Any:
    try:
        import rattler
    except ImportError:  # the test suite's plain install has no extras
        raise ValueError("selecting conda packages needs the Python module 'rattler' "
                         "(py-rattler), which is not installed: pip install "
                         "'mirrorkit-offline[conda]'") from None
    return rattler


@lru_cache(maxsize=65536)
def parse_spec(text: str) -> MatchSpec:
    """A match spec with an exact package name; ValueError with rattler's reason otherwise."""
    rattler = _rattler()
    try:
        spec: MatchSpec = rattler.MatchSpec(text.strip())
    except Exception as exc:  # rattler's InvalidMatchSpecError is not exported
        raise ValueError(f"{text!r} is not a match spec: {exc}") from None
    return spec


@dataclass(slots=True)
class Candidate:
    """One package record, with what matching and the closure need (not the whole record)."""

    ref: PackageRef
    name: str
    version: str
    build: str
    build_number: int
    depends: tuple[str, ...]
    _record: PackageRecord | None = field(default=None, repr=False)

    def record(self) -> PackageRecord | None:
        """The record as rattler matches it; None when rattler cannot read its version."""
        if self._record is None:
            rattler = _rattler()
            try:
                self._record = rattler.PackageRecord(
                    name=self.name, version=self.version,
                    build=rattler.BuildString(self.build), build_number=self.build_number,
                    subdir=self.ref.subdir)
            except Exception as exc:
                log.debug("skipping %s: %s", self.ref.path, exc)
                return None
        return self._record


class Catalog:
    """A subdir's records by package name, built from one streaming pass over its repodata."""

    def __init__(self, subdir: str) -> None:
        self.subdir = subdir
        self.by_name: dict[str, list[Candidate]] = {}
        self._strings: dict[str, str] = {}  # depends strings repeat a lot: keep one copy

    def add(self, ref: PackageRef, record: Mapping[str, Any], where: str) -> None:
        name, version = record.get("name"), record.get("version")
        build, number = record.get("build", ""), record.get("build_number", 0)
        depends = record.get("depends", [])
        if not (isinstance(name, str) and isinstance(version, str) and isinstance(build, str)
                and isinstance(number, int) and isinstance(depends, list)
                and all(isinstance(d, str) for d in depends)):
            raise PlanError(f"{where}: {ref.filename}: name, version, build, build_number or "
                            "depends is missing or of the wrong type")
        intern = self._strings.setdefault
        cand = Candidate(ref, name, version, build, number,
                         tuple(intern(d, d) for d in depends))
        self.by_name.setdefault(name.lower(), []).append(cand)


@dataclass
class Selection:
    """The chosen records per subdir, and the dependency specs nothing satisfied."""

    records: dict[str, dict[str, Candidate]] = field(default_factory=dict)
    unsatisfied: set[str] = field(default_factory=set)

    def add(self, cand: Candidate) -> None:
        self.records.setdefault(cand.ref.subdir, {})[cand.ref.filename] = cand


def _groups(catalogs: Mapping[str, Catalog]) -> list[list[Catalog]]:
    """What one client platform sees: its subdir and noarch (noarch alone if only that)."""
    platforms = [c for s, c in catalogs.items() if s != "noarch"]
    noarch = [catalogs["noarch"]] if "noarch" in catalogs else []
    return [[p, *noarch] for p in platforms] or [noarch]


def select(specs: Iterable[str], with_deps: bool,
           catalogs: Mapping[str, Catalog]) -> Selection:
    """The records matching ``specs`` and, with ``with_deps``, their dependency closure.

    Each platform subdir is closed over together with noarch, as a client on that platform
    would solve. A root spec that matches nothing on any platform is an error; a dependency
    nothing satisfies (another channel's package) is only reported.
    """
    selection = Selection()
    roots = [s.strip() for s in specs]
    matched_roots: set[str] = set()
    for group in _groups(catalogs):
        queue: deque[tuple[str, bool]] = deque((s, True) for s in roots)
        seen: set[str] = set()
        taken: set[str] = set()  # paths already closed over for this platform
        while queue:
            text, is_root = queue.popleft()
            if text in seen:
                continue
            seen.add(text)
            try:
                spec = parse_spec(text)
            except ValueError as exc:
                if is_root:
                    raise PlanError(str(exc)) from None
                log.info("ignoring dependency %s", exc)
                continue
            name = spec.name.normalized if spec.name is not None else ""
            if name.startswith("__"):  # virtual packages (__glibc, __unix) come from the host
                continue
            found = False
            for catalog in group:
                for cand in catalog.by_name.get(name, ()):
                    record = cand.record()
                    if record is None or not spec.matches(record):
                        continue
                    found = True
                    if cand.ref.path in taken:
                        continue
                    taken.add(cand.ref.path)
                    selection.add(cand)
                    if with_deps:
                        queue.extend((d, False) for d in cand.depends)
            if found and is_root:
                matched_roots.add(text)
            elif not found and not is_root:
                selection.unsatisfied.add(text)
    for root in roots:
        if root not in matched_roots:
            raise PlanError(f"no package matches {root!r} in subdirs "
                            f"{', '.join(sorted(catalogs))}")
    return selection
