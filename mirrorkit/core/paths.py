"""Validation of mirror-relative paths.

Every path that reaches the disk comes from data we do not control (upstream indexes, bundle
members, plugin output), so it is checked once, here, before anything is joined to a directory.
"""

from __future__ import annotations

import posixpath
import re

__all__ = ["UnsafePathError", "safe_join", "validate_relpath"]

RESERVED_TOP = ".mirrorkit"
_CONTROL = re.compile(r"[\x00-\x1f]")  # one C-level scan: this runs for every artifact


class UnsafePathError(ValueError):
    """A path would escape the mirror, or is not a plain relative POSIX path."""


def validate_relpath(path: str, *, allow_reserved: bool = False) -> str:
    """Return the normalised form of ``path`` or raise :class:`UnsafePathError`."""
    if not isinstance(path, str):
        raise UnsafePathError(f"path must be a string, got {type(path).__name__}")
    if not path:
        raise UnsafePathError("path is empty")
    shown = path[:200]
    if "\0" in path:
        raise UnsafePathError(f"path {shown!r} contains a NUL byte")
    if "\\" in path:
        raise UnsafePathError(f"path {shown!r} contains a backslash")
    if path.startswith("/"):
        raise UnsafePathError(f"path {shown!r} is absolute")
    if _CONTROL.search(path):
        raise UnsafePathError(f"path {shown!r} contains a control character")
    parts = path.split("/")
    if "" in parts or "." in parts:
        parts = [p for p in parts if p not in ("", ".")]
    if not parts:
        raise UnsafePathError(f"path {shown!r} names the mirror root")
    if ".." in parts:
        raise UnsafePathError(f"path {shown!r} contains '..'")
    size = len(path.encode("utf-8", "surrogatepass"))
    if size > 4096 or (size > 255 and any(
        len(p.encode("utf-8", "surrogatepass")) > 255 for p in parts
    )):
        raise UnsafePathError(f"path {shown!r} is too long")
    if parts[0] == RESERVED_TOP and not allow_reserved:
        raise UnsafePathError(f"path {shown!r} is inside the reserved {RESERVED_TOP}/ directory")
    return "/".join(parts)


def safe_join(root: str, relpath: str) -> str:
    """Join a validated relative path to ``root`` (a string path, for speed in hot loops)."""
    return posixpath.join(root, validate_relpath(relpath))
