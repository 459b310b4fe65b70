"""What the mirror needs from Homebrew's API payloads, checked strictly and kept compact.

Two sources name bottles:

- ``internal/packages.<tag>.jws.json`` (brew 6): one entry per formula, already reduced to
  that tag: version, revision, rebuild, the checksum of the bottle served and its tag when it
  is another one (``":all"``, an older macOS), and the dependencies on that platform.
- ``formula.jws.json`` (brew 4.x/5.x): every formula with every bottle it has
  (``bottle.stable.files.<tag>.sha256``); clients pick theirs (see :mod:`.tags`).

Parsed trees of these files are large (tens of MB of JSON), so each is reduced to small
frozen records as soon as it is read and the tree is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mirrorkit.api import PlanError

from .deps import DependencyError, runtime_dependencies
from .tags import ALL, BottleTag, is_tag_name

__all__ = [
    "LegacyFormula",
    "PackagesIndex",
    "TagBottle",
    "bottle_tags",
    "parse_formula_list",
    "parse_packages",
    "pkg_version",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@+._-]*$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def pkg_version(version: str, revision: int) -> str:
    """brew's ``PkgVersion#to_s``: ``1.2.3`` or ``1.2.3_1``."""
    return f"{version}_{revision}" if revision > 0 else version


@dataclass(frozen=True, slots=True)
class TagBottle:
    """What brew 6 installs for one formula on one tag."""

    pkg_version: str
    rebuild: int
    sha256: str | None  # None: no bottle for this tag (brew would build from source)
    bottle_tag: str  # the tag of the bottle served (the requested one, "all", an older macOS)
    deps: tuple[str, ...]  # runtime dependencies on this tag


@dataclass(slots=True)
class PackagesIndex:
    """One ``internal/packages.<tag>`` payload, reduced."""

    tag: str
    formulae: dict[str, TagBottle]
    aliases: dict[str, str] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)

    def canonical(self, name: str) -> str | None:
        """The formula ``name`` refers to (itself, an alias's target, a rename's new name)."""
        for _ in range(8):  # renames may chain; never loop forever on bad data
            if name in self.formulae:
                return name
            target = self.aliases.get(name) or self.renames.get(name)
            if target is None:
                return None
            name = target
        return None


@dataclass(frozen=True, slots=True)
class LegacyFormula:
    """One formula of ``formula.jws.json``, reduced."""

    pkg_version: str
    rebuild: int
    files: tuple[tuple[str, str], ...]  # (tag, sha256) in upstream order


def _int(value: Any, where: str, default: int = 0) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PlanError(f"{where}: expected a non-negative integer, got {value!r:.60}")
    return value


def _str(value: Any, where: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise PlanError(f"{where}: unexpected value {value!r:.80}")
    return value


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PlanError(f"{where}: expected an object of strings")
    return dict(value)


def _symbol(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith(":") or not is_tag_name(value[1:]):
        raise PlanError(f"{where}: expected a bottle tag symbol, got {value!r:.60}")
    return value[1:]


def _served_macos(tag: str, bottle_tag: str) -> tuple[int, ...] | None:
    """The macOS version that decides ``uses_from_macos`` (None on Linux)."""
    want = BottleTag.parse(tag)
    version = want.macos_version
    if not want.is_macos:
        return None if want.system == "linux" else version
    served = BottleTag.parse(bottle_tag).macos_version
    if served is not None and version is not None and served < version:
        return served  # brew uses the OS the bottle was built on
    return version


def parse_packages(payload: Any, tag: str, where: str) -> PackagesIndex:
    """Reduce an ``internal/packages.<tag>`` payload; raises :class:`PlanError` naming the key."""
    if not isinstance(payload, dict):
        raise PlanError(f"{where}: payload is not an object")
    meta = payload.get("metadata")
    if isinstance(meta, dict) and meta.get("bottle_tag") not in (None, tag):
        raise PlanError(f"{where}: metadata.bottle_tag is {meta.get('bottle_tag')!r}, "
                        f"expected {tag!r}")
    formulae_raw = payload.get("formulae")
    if not isinstance(formulae_raw, dict):
        raise PlanError(f"{where}: 'formulae' is not an object")
    linux = BottleTag.parse(tag).system == "linux"
    formulae: dict[str, TagBottle] = {}
    for name, data in formulae_raw.items():
        at = f"{where}: formulae[{name!r:.80}]"
        _str(name, at, _NAME_RE)
        if not isinstance(data, dict):
            raise PlanError(f"{at}: not an object")
        version = _str(data.get("stable_version"), f"{at}.stable_version", _VERSION_RE)
        revision = _int(data.get("revision"), f"{at}.revision")
        rebuild = _int(data.get("bottle_rebuild"), f"{at}.bottle_rebuild")
        checksum = data.get("bottle_checksum")
        if checksum is not None:
            _str(checksum, f"{at}.bottle_checksum", _SHA256_RE)
        served = tag
        if data.get("bottle_tag") is not None:
            served = _symbol(data["bottle_tag"], f"{at}.bottle_tag")
        try:
            deps = runtime_dependencies(
                data, at, macos=None if linux else _served_macos(tag, served)
            )
        except DependencyError as exc:
            raise PlanError(str(exc)) from None
        formulae[name] = TagBottle(pkg_version(version, revision), rebuild, checksum, served,
                                   deps)
    return PackagesIndex(
        tag=tag,
        formulae=formulae,
        aliases=_str_map(payload.get("formula_aliases"), f"{where}: formula_aliases"),
        renames=_str_map(payload.get("formula_renames"), f"{where}: formula_renames"),
    )


def parse_formula_list(payload: Any, where: str) -> dict[str, LegacyFormula]:
    """Reduce the ``formula.jws.json`` payload (a list of formula objects)."""
    if not isinstance(payload, list):
        raise PlanError(f"{where}: payload is not a list")
    out: dict[str, LegacyFormula] = {}
    for i, data in enumerate(payload):
        at = f"{where}: [{i}]"
        if not isinstance(data, dict):
            raise PlanError(f"{at}: not an object")
        name = _str(data.get("name"), f"{at}.name", _NAME_RE)
        at = f"{where}: {name}"
        versions = data.get("versions")
        if not isinstance(versions, dict):
            raise PlanError(f"{at}.versions: not an object")
        bottle = data.get("bottle") or {}
        if not isinstance(bottle, dict):
            raise PlanError(f"{at}.bottle: not an object")
        stable = bottle.get("stable") or {}
        if not isinstance(stable, dict):
            raise PlanError(f"{at}.bottle.stable: not an object")
        files_raw = stable.get("files") or {}
        if not isinstance(files_raw, dict):
            raise PlanError(f"{at}.bottle.stable.files: not an object")
        if versions.get("stable") is None:
            if files_raw:
                raise PlanError(f"{at}: bottles without a stable version")
            continue  # a HEAD-only formula has nothing to mirror
        version = _str(versions.get("stable"), f"{at}.versions.stable", _VERSION_RE)
        files: list[tuple[str, str]] = []
        for tag, spec in files_raw.items():
            if not isinstance(tag, str) or not is_tag_name(tag):
                raise PlanError(f"{at}.bottle.stable.files: {tag!r:.40} is not a bottle tag")
            if not isinstance(spec, dict):
                raise PlanError(f"{at}.bottle.stable.files.{tag}: not an object")
            files.append((tag, _str(spec.get("sha256"), f"{at}.bottle.stable.files.{tag}.sha256",
                                    _SHA256_RE)))
        out[name] = LegacyFormula(
            pkg_version(version, _int(data.get("revision"), f"{at}.revision")),
            _int(stable.get("rebuild"), f"{at}.bottle.stable.rebuild"),
            tuple(files),
        )
    return out


def bottle_tags(formulae: Iterable[LegacyFormula]) -> list[str]:
    """Every platform tag upstream has bottles for (``all`` is not a platform), sorted."""
    seen: set[str] = set()
    for formula in formulae:
        seen.update(tag for tag, _ in formula.files)
    seen.discard(ALL)
    return sorted(seen)


def check_names(names: Iterable[str], where: str) -> None:
    for name in names:
        _str(name, where, _NAME_RE)


def mapping_or_empty(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
