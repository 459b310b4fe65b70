"""Reading ``repodata.json`` as a stream: one package record at a time, never the whole file.

conda-forge's ``linux-64/repodata.json`` is over 200 MB; loaded with :mod:`json` it would
take several GB of Python objects. :mod:`.jsonstream` yields one record at a time from a
file, so memory stays flat whatever the channel's size; ijson reads the one small
top-level value :func:`read_top_level` needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import ijson

from mirrorkit.api import Artifact, Digest, PlanError

from .jsonstream import object_members

# a plain file name: no directory part, no control characters, not hidden
_FILENAME = re.compile(r"[^./\x00-\x1f\x7f][^/\x00-\x1f\x7f]*")  # fullmatch

_URL_SAFE = re.compile(r"[A-Za-z0-9._+!-]*")  # fullmatch

# what Digest accepts for the two algorithms repodata gives, in the order preferred
_HEX_LENGTH = (("sha256", 64), ("md5", 32))

__all__ = ["SECTIONS", "PackageRef", "iter_records", "new_ref", "read_top_level"]

#: repodata's two package maps: ``.tar.bz2`` files and ``.conda`` files
SECTIONS = {"packages": ".tar.bz2", "packages.conda": ".conda"}


class PackageRef(NamedTuple):
    """What the mirror needs to fetch and verify one package file.

    A tuple of strings and ints: the garbage collector stops tracking such tuples, which
    matters with 400,000 of them alive at once (conda-forge's linux-64).
    """

    subdir: str
    filename: str
    algorithm: str  # sha256, or md5 for records without one
    hexdigest: str
    size: int | None

    @property
    def path(self) -> str:
        return f"{self.subdir}/{self.filename}"

    def artifact(self, channel_url: str) -> Artifact:
        subdir, name, algorithm, hexdigest, size = self
        path = f"{subdir}/{name}"
        if not _URL_SAFE.fullmatch(name):  # nearly every conda file name is already URL-safe
            name = quote(name, safe="+!")
        digest = Digest(algorithm, hexdigest) if hexdigest else None
        # a conda file name never changes content; without a digest, keep what we have
        return Artifact(path, f"{channel_url}/{subdir}/{name}", digest, size,
                        immutable=digest is None)


# PackageRef's own __new__ is a Python function; a plan builds 400,000 of them
new_ref: Callable[[tuple[str, str, str, str, int | None]], PackageRef] = partial(
    tuple.__new__, PackageRef)


def _is_hex(text: str, size: int) -> bool:
    """``text`` is ``2 * size`` hex digits: ``bytes.fromhex`` skips spaces, so a text of
    that length holding any gives fewer bytes (a regex took four times as long)."""
    try:
        return len(bytes.fromhex(text)) == size
    except ValueError:
        return False


def package_ref(subdir: str, section: str, filename: Any, record: Any, where: str) -> PackageRef:
    """Check one record enough to fetch it safely; PlanError names the record otherwise."""
    ext = SECTIONS[section]
    if not (isinstance(filename, str) and filename.endswith(ext) and _FILENAME.fullmatch(filename)):
        raise PlanError(f"{where}: {section}[{str(filename)[:120]!r}] is not a {ext} file name")
    if not isinstance(record, dict):
        raise PlanError(f"{where}: {section}[{filename!r}] is not an object")
    size = record.get("size")
    if size is not None and (type(size) is not int or size < 0):  # bool is no byte count
        raise PlanError(f"{where}: {section}[{filename!r}].size is not a byte count")
    for algorithm, length in _HEX_LENGTH:
        value = record.get(algorithm)
        if value is None:
            continue
        hexdigest = value.lower() if isinstance(value, str) else value
        if not (isinstance(hexdigest, str) and len(hexdigest) == length
                and _is_hex(hexdigest, length // 2)):
            try:  # the digest's own check, for its message (inline above: 400,000 times)
                Digest(algorithm, hexdigest)
            except ValueError as exc:
                raise PlanError(f"{where}: {section}[{filename!r}].{algorithm}: {exc}"
                                ) from None
        return new_ref((subdir, filename, algorithm, hexdigest, size))
    return new_ref((subdir, filename, "", "", size))


def iter_records(path: Path, where: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(section, filename, record) for every package of a repodata file, streaming, in
    one pass through the file, in its order."""
    with open(path, "rb") as fh:
        try:
            yield from object_members(fh, SECTIONS)
        except ValueError as exc:  # JSONStreamError, or bytes that are not UTF-8
            raise PlanError(f"{where}: not valid JSON ({exc})") from None


def read_top_level(path: Path, key: str) -> Any:
    """One small top-level value (``info``, ``repodata_version``); None when absent."""
    with open(path, "rb") as fh:
        try:
            return next(ijson.items(fh, key, use_float=True), None)
        except ijson.JSONError:
            return None

