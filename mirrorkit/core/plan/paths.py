"""Validation of mirror-relative paths.

Every path that reaches the disk comes from data we do not control (upstream indexes, bundle
members, plugin output), so it is checked once, here, before anything is joined to a directory.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection

__all__ = ["UnsafePathError", "all_normal", "safe_join", "validate_relpath"]

RESERVED_TOP = ".mirrorkit"
_CONTROL = re.compile(r"[\x00-\x1f]")  # one C-level scan: this runs for every artifact
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f]")


class UnsafePathError(ValueError):
    """A path would escape the mirror, or is not a plain relative POSIX path."""


def validate_relpath(path: str, *, allow_reserved: bool = False) -> str:
    """Return the normalised form of ``path`` or raise :class:`UnsafePathError`."""
    if not isinstance(path, str):
        raise UnsafePathError(f"path must be a string, got {type(path).__name__}")
    if (len(path) <= 255 and path.isascii() and path.isprintable() and path[:1] not in "./"
            and path[-1] != "/" and "/." not in path and "//" not in path
            and "\\" not in path):
        # plainly safe and already normal (nearly every path): the checks below, by
        # string scans; a dot segment, non-ASCII or a long path takes the long way
        return path
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


def all_normal(paths: Collection[str]) -> bool:
    """True when every path is plainly safe and already normal; False: validate each.

    A manifest of 400,000 files re-checked path by path cost more than reading it. Joined
    on newlines, the whole set is checked by a few C-level scans instead: ASCII, at most
    255 characters, no control character, backslash, empty segment or segment starting
    with a dot (which rules out ``.``, ``..`` and the reserved directory), not absolute.
    A path that is safe but not plain (a dot file, non-ASCII) makes this False, and the
    caller's per-path :func:`validate_relpath` decides.
    """
    if not paths:
        return True
    try:
        text = "\n" + "\n".join(paths) + "\n"
    except TypeError:  # not all strings
        return False
    return (text.isascii() and max(map(len, paths)) <= 255
            and text.count("\n") == len(paths) + 1  # no newline inside a path
            and "\n\n" not in text and "\n/" not in text and "/\n" not in text
            and "//" not in text and "/." not in text and "\n." not in text
            and "\\" not in text and _CONTROL_BUT_NEWLINE.search(text) is None)
