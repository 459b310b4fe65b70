"""The installations a mirror is for: Python versions and platforms, as tags and markers.

With no ``--python-version`` and no ``--platform`` every file is kept; markers are then
evaluated for a broad default set (CPython 3.8 to 3.14 on Linux, macOS and Windows), so a
dependency that only some installation needs is still mirrored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms

if TYPE_CHECKING:
    from packaging.markers import Marker

__all__ = ["Targets"]

DEFAULT_PYTHONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
# (sys_platform, platform_system, os_name, platform_machine)
_DEFAULT_SYSTEMS = (
    ("linux", "Linux", "posix", "x86_64"), ("linux", "Linux", "posix", "aarch64"),
    ("darwin", "Darwin", "posix", "arm64"), ("darwin", "Darwin", "posix", "x86_64"),
    ("win32", "Windows", "nt", "AMD64"),
)
_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
_LEGACY_MANYLINUX = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
_MUSL = re.compile(r"^musllinux_(\d+)_(\d+)_(\w+)$")
_MAC = re.compile(r"^macosx_(\d+)_(\d+)_(\w+)$")
_WIN_MACHINE = {"win_amd64": "AMD64", "win32": "x86", "win_arm64": "ARM64"}


def expand_platform(tag: str) -> list[str]:
    """Every platform tag an installer on ``tag`` accepts (older glibc, older macOS...)."""
    for legacy, (major, minor) in _LEGACY_MANYLINUX.items():
        if tag.startswith(legacy + "_"):
            tag = f"manylinux_{major}_{minor}_{tag[len(legacy) + 1:]}"
    m = _MANYLINUX.match(tag)
    if m:
        major, minor, arch = int(m[1]), int(m[2]), m[3]
        out = [f"manylinux_{major}_{y}_{arch}" for y in range(minor, -1, -1)]
        out += [f"{legacy}_{arch}" for legacy, (lmaj, lmin) in _LEGACY_MANYLINUX.items()
                if (lmaj, lmin) <= (major, minor)]
        return [*out, f"linux_{arch}"]
    m = _MUSL.match(tag)
    if m:
        major, minor, arch = int(m[1]), int(m[2]), m[3]
        return [*(f"musllinux_{major}_{y}_{arch}" for y in range(minor, -1, -1)),
                f"linux_{arch}"]
    m = _MAC.match(tag)
    if m:
        return list(mac_platforms((int(m[1]), int(m[2])), m[3]))
    return [tag]


def _system_of(tag: str) -> tuple[str, str, str, str]:
    if tag.startswith(("manylinux", "musllinux", "linux")):
        arch = tag.rsplit("_", 1)[-1]
        for prefix in ("x86_64", "aarch64", "ppc64le", "s390x", "armv7l"):
            if tag.endswith(prefix):
                arch = prefix
        return ("linux", "Linux", "posix", arch)
    if tag.startswith("macosx"):
        arch = "arm64" if tag.endswith("arm64") else "x86_64"
        return ("darwin", "Darwin", "posix", arch)
    if tag in _WIN_MACHINE:
        return ("win32", "Windows", "nt", _WIN_MACHINE[tag])
    return ("linux", "Linux", "posix", tag.rsplit("_", 1)[-1])


@dataclass
class Targets:
    pythons: tuple[str, ...]      # "3.12"; empty: any
    platforms: tuple[str, ...]    # as given; empty: any

    def __post_init__(self) -> None:
        self._accepted_platforms: set[str] = {p for tag in self.platforms
                                              for p in expand_platform(tag)}
        self._tags: set[Tag] | None = None
        if self.pythons:
            plats = sorted(self._accepted_platforms) or ["*"]
            tags: set[Tag] = set()
            for py in self.pythons:
                version = tuple(int(x) for x in py.split("."))
                tags.update(cpython_tags(version, platforms=plats))
                tags.update(compatible_tags(version, f"cp{version[0]}{version[1]}", plats))
            self._tags = tags
        self.environments = self._environments()
        #: no Python version and no platform given: every wheel fits (its tags go unread)
        self.any_wheel = self._tags is None and not self._accepted_platforms

    def _environments(self) -> list[dict[str, str]]:
        systems = sorted({_system_of(p) for p in self.platforms}) or list(_DEFAULT_SYSTEMS)
        out = []
        for py in self.pythons or DEFAULT_PYTHONS:
            for sys_platform, system, os_name, machine in systems:
                out.append({
                    "python_version": py, "python_full_version": f"{py}.0",
                    "implementation_name": "cpython", "implementation_version": f"{py}.0",
                    "platform_python_implementation": "CPython", "sys_platform": sys_platform,
                    "platform_system": system, "os_name": os_name,
                    "platform_machine": machine, "platform_release": "",
                    "platform_version": "", "extra": "",
                })
        return out

    # ---------------------------------------------------------------- files
    def wheel_fits(self, tags: Iterable[Tag]) -> bool:
        if self._tags is None:
            if not self._accepted_platforms:
                return True
            return any(t.platform == "any" or t.platform in self._accepted_platforms
                       for t in tags)
        if self._accepted_platforms:
            return any(t in self._tags for t in tags)
        return any(Tag(t.interpreter, t.abi, "*") in self._tags
                   or (t.platform == "any" and t in self._tags) for t in tags)

    def python_fits(self, requires_python: str | None) -> bool:
        if not requires_python or not self.pythons:
            return True
        try:
            spec = SpecifierSet(requires_python)
        except InvalidSpecifier:
            return True  # installers ignore an invalid requires-python; so do we
        return any(spec.contains(f"{py}.{patch}", prereleases=True)
                   for py in self.pythons for patch in (0, 99))

    # -------------------------------------------------------------- markers
    def marker_applies(self, marker: Marker | None, extra: str = "") -> bool:
        if marker is None:
            return True
        return any(marker.evaluate({**env, "extra": extra}) for env in self.environments)
