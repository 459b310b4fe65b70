"""opam's version order (``OpamVersionCompare``, from Dose's Debian versions, no epoch).

A version is compared as Debian's: the part before its last ``-`` first, then the part
after it (so ``1.0-1 < 1.0a``). Each part is split into alternating non-digit and digit
runs. Non-digit runs compare character by character, where ``~`` sorts before the end of
the run, the end before letters, and letters before every other character; digit runs
compare as numbers. So ``1.0~beta < 1.0 < 1.0a < 1.0+dev < 1.0.1``, and ``1.01 == 1.1``.
This is the order opam uses for ``{>= "1.2"}`` constraints; a test checks it against
``opam show --field all-versions``.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["compare_versions", "version_key"]

_RUNS = re.compile(r"([^0-9]*)([0-9]*)")
Part = tuple[tuple[tuple[int, ...], int], ...]
Key = tuple[Part, Part]
#: what a version that has ended compares as: an empty non-digit run, then zero
_END = ((0,), 0)


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isascii() and c.isalpha():
        return ord(c)
    return ord(c) + 256


@lru_cache(maxsize=1 << 16)
def version_key(version: str) -> Key:
    """A sort key with the order described above (equal keys: equal versions)."""
    upstream, dash, revision = version.rpartition("-")
    if not dash:
        upstream, revision = version, ""
    return _part(upstream), _part(revision)


def _part(text: str) -> Part:
    segments: list[tuple[tuple[int, ...], int]] = []
    for m in _RUNS.finditer(text):
        chars, digits = m.group(1), m.group(2)
        if not chars and not digits:
            continue
        segments.append(((*map(_order, chars), 0), int(digits) if digits else 0))
    segments.append(_END)
    return tuple(segments)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, with or after ``b``."""
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)
