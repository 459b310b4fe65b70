"""Bottle tags (``arm64_sequoia``, ``sonoma``, ``x86_64_linux``, ``all``) and how brew orders them.

A client on one platform may be served a bottle built for another tag: ``all`` for
platform-independent bottles, or (on macOS) one built for an older macOS release of the same
architecture. brew 6 finds that answer in ``internal/packages.<tag>.jws.json``; brew 4.x/5.x
compute it themselves from ``formula.jws.json``, and :func:`resolve_bottle_tag` does the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ALL",
    "KNOWN_TAGS",
    "BottleTag",
    "is_tag_name",
    "macos_version",
    "resolve_bottle_tag",
]

ALL = "all"

#: macOS release names and versions, as brew's ``MacOSVersion::SYMBOLS`` (plus older names
#: that may still appear in old bottle blocks).
MACOS_VERSIONS: dict[str, tuple[int, ...]] = {
    "golden_gate": (27,),
    "tahoe": (26,),
    "sequoia": (15,),
    "sonoma": (14,),
    "ventura": (13,),
    "monterey": (12,),
    "big_sur": (11,),
    "catalina": (10, 15),
    "mojave": (10, 14),
    "high_sierra": (10, 13),
    "sierra": (10, 12),
    "el_capitan": (10, 11),
}
_SUPPORTED_MACOS = ("golden_gate", "tahoe", "sequoia", "sonoma", "ventura", "monterey",
                    "big_sur", "catalina")

#: Every tag brew 6 publishes an internal packages file for (brew's ``VALID_OS_ARCH_TAGS``):
#: Intel and ARM for each supported macOS (ARM from Big Sur on) and both Linux architectures.
KNOWN_TAGS: tuple[str, ...] = (
    *(f"arm64_{os}" for os in _SUPPORTED_MACOS if MACOS_VERSIONS[os] >= (11,)),
    *_SUPPORTED_MACOS,
    "arm64_linux",
    "x86_64_linux",
)

_TAG_RE = re.compile(r"^(?:(arm64|x86_64)_)?([a-z][a-z0-9_]*)$")


def is_tag_name(text: str) -> bool:
    """Whether ``text`` is shaped like a bottle tag (known or not)."""
    return text == ALL or bool(_TAG_RE.match(text))


@dataclass(frozen=True, slots=True)
class BottleTag:
    arch: str  # "arm64" | "x86_64" | "all"
    system: str  # a macOS name, "linux" or "all"

    @classmethod
    def parse(cls, text: str) -> BottleTag:
        if text == ALL:
            return cls(ALL, ALL)
        m = _TAG_RE.match(text)
        if not m:
            raise ValueError(f"{text!r} is not a bottle tag")
        arch, system = m.group(1), m.group(2)
        if arch is None:
            # "sonoma" is Intel macOS; a bare "linux" is not a tag brew writes
            arch = "x86_64"
        return cls(arch, system)

    @property
    def is_macos(self) -> bool:
        return self.system in MACOS_VERSIONS

    @property
    def macos_version(self) -> tuple[int, ...] | None:
        return MACOS_VERSIONS.get(self.system)


def macos_version(name: str) -> tuple[int, ...] | None:
    """``"sonoma"`` -> ``(14,)``; None for a name we do not know."""
    return MACOS_VERSIONS.get(name.removeprefix(":"))


def resolve_bottle_tag(tag: str, available: Iterable[str]) -> str | None:
    """The bottle a client on ``tag`` installs, given the tags a formula has bottles for.

    As brew's ``Utils::Bottles::Collector#find_matching_tag`` on the client: the exact tag,
    else ``all``, else (macOS only) the first listed bottle of the same architecture built for
    the same or an older macOS release. ``available`` must be in upstream's order.
    """
    tags = list(available)
    if tag in tags:
        return tag
    if ALL in tags:
        return ALL
    want = BottleTag.parse(tag)
    wanted_version = want.macos_version
    if wanted_version is None:
        return None
    for candidate in tags:
        try:
            have = BottleTag.parse(candidate)
        except ValueError:
            continue
        version = have.macos_version
        if have.arch == want.arch and version is not None and version <= wanted_version:
            return candidate
    return None
