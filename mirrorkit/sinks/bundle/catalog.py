"""Finding bundles in a directory or S3 prefix, checking their parts, and ordering them.

Everything here reads only TOCs and parts, never a mirror, so ``mirrorkit import --check``
and ``mirrorkit bundles`` can run on the transfer medium before anything is applied.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .targets import Target, TargetError, open_target
from .toc import TOC_SUFFIX, Toc, TocError

__all__ = ["Catalog", "import_chain", "open_catalog", "verify_parts"]

READ_BUFFER = 1024 * 1024
_PART_RE = re.compile(r"^(?P<name>.+)\.tar(?:\.zst)?\.\d{4,}$")


@dataclass
class Catalog:
    """The bundles of one place, and the problems met reading their TOCs."""

    target: Target
    tocs: list[Toc]
    problems: list[str]
    explicit: bool = False  # SRC named one TOC: import exactly that bundle

    def for_mirror(self, mirror: str | None) -> list[Toc]:
        return [t for t in self.tocs if mirror is None or t.mirror == mirror]


def open_catalog(src: str) -> Catalog:
    """``src``: a directory, an ``s3://`` prefix, or the path/URL of one ``.toc.json``."""
    if src.endswith(TOC_SUFFIX):
        parent, _, leaf = src.rstrip("/").rpartition("/")
        if not parent and not src.startswith("s3://"):
            parent = "."
        target = open_target(parent if parent else src)
        raw = target.read_bytes(leaf)
        if raw is None:
            raise TargetError(f"{src}: missing")
        return Catalog(target, [Toc.loads(raw, where=src)], [], explicit=True)
    target = open_target(src)
    names = target.names()
    if not names and not src.startswith("s3://"):
        from pathlib import Path

        if not Path(src).is_dir():
            raise TargetError(f"{src}: not a directory")
    tocs: list[Toc] = []
    problems: list[str] = []
    for name in names:
        if not name.endswith(TOC_SUFFIX):
            continue
        raw = target.read_bytes(name)
        if raw is None:
            continue
        try:
            tocs.append(Toc.loads(raw, where=f"{target.describe()}/{name}"))
        except TocError as exc:
            problems.append(str(exc))
    tocs.sort(key=lambda t: (t.mirror, t.snapshot, t.base is not None, t.name))
    return Catalog(target, tocs, problems)


def verify_parts(target: Target, toc: Toc) -> list[str]:
    """Every problem with the parts of ``toc`` (missing, wrong size, wrong sha256, extra)."""
    where = target.describe()
    problems: list[str] = []
    for part in toc.parts:
        size = target.size_of(part.name)
        if size is None:
            problems.append(f"{where}/{part.name}: missing part")
            continue
        if size != part.size:
            what = "truncated" if size < part.size else "too long"
            problems.append(f"{where}/{part.name}: {what}: {size} bytes, the TOC says "
                            f"{part.size}")
            continue
        digest = _hash(target, part.name)
        if digest != part.sha256:
            problems.append(f"{where}/{part.name}: corrupt: sha256 {digest}, the TOC says "
                            f"{part.sha256}")
    listed = {p.name for p in toc.parts}
    for name in target.names():
        m = _PART_RE.match(name)
        if m and m.group("name") == toc.name and name not in listed:
            problems.append(f"{where}/{name}: a part the TOC does not list")
    return problems


def _hash(target: Target, name: str) -> str:
    h = hashlib.sha256()
    with target.open_read(name) as fh:
        while chunk := fh.read(READ_BUFFER):
            h.update(chunk)
    return h.hexdigest()


def import_chain(tocs: list[Toc], current: str | None) -> list[Toc]:
    """The bundles to apply, in order, to a mirror now at snapshot ``current``.

    Deltas are followed from ``current``; an empty mirror (or one no delta continues) starts
    from the newest full bundle newer than what it holds.
    """
    chain: list[Toc] = []
    at = current
    while True:
        left = [t for t in tocs if t not in chain and t.snapshot != at]
        deltas = [t for t in left if t.base is not None and t.base == at]
        if deltas:
            nxt = max(deltas, key=lambda t: t.snapshot)
        else:
            fulls = [t for t in left if t.base is None and (at is None or t.snapshot > at)]
            if not fulls:
                return chain
            nxt = max(fulls, key=lambda t: t.snapshot)
        chain.append(nxt)
        at = nxt.snapshot
