"""What a distribution's file name says: its version and, for a wheel, its tags."""

from __future__ import annotations

import re
from functools import lru_cache

from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

__all__ = ["file_version", "is_wheel", "wheel_tags"]

# legacy formats PyPI still lists for old releases: name-version.ext
_LEGACY = re.compile(r"^(?P<stem>.+?)\.(tar\.bz2|tar\.xz|tgz|tar|egg|exe|msi|rpm|dmg)$")


def is_wheel(filename: str) -> bool:
    return filename.endswith(".whl")


@lru_cache(maxsize=65536)
def file_version(filename: str) -> Version | None:
    """The version a file belongs to, or None when its name cannot be read."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass
    m = _LEGACY.match(filename)
    if m:
        stem = m.group("stem").removesuffix(".linux-x86_64").removesuffix(".win32")
        for part in reversed(stem.split("-")):
            try:
                return Version(part.split("-py")[0])
            except InvalidVersion:
                continue
    return None


@lru_cache(maxsize=65536)
def wheel_tags(filename: str) -> frozenset[Tag]:
    try:
        return parse_wheel_filename(filename)[3]
    except (InvalidWheelFilename, InvalidVersion):
        return frozenset()
