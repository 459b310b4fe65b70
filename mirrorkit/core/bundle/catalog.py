"""Finding bundles in a directory or S3 prefix, checking their parts, and ordering them.

Everything here reads only TOCs and parts, never a mirror, so ``mirrorkit import --check``
and ``mirrorkit bundles`` can run on the transfer medium before anything is applied.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from .targets import Target, TargetError, open_target
from .toc import TOC_SUFFIX, Toc, TocError, TocHeader
from .tocread import TocSummary, load_toc, read_summary, toc_limit

__all__ = ["BundleCatalog", "import_chain", "open_bundles", "verify_parts"]

READ_BUFFER = 1024 * 1024
_PART_RE = re.compile(r"^(?P<name>.+)\.tar(?:\.zst)?\.\d{4,}$")


@dataclass
class BundleCatalog:
    """The bundles of one place (their TOC summaries), and the problems met reading them."""

    target: Target
    tocs: list[TocSummary]
    problems: list[str]
    explicit: bool = False  # SRC named one TOC: import exactly that bundle
    max_toc: int | None = None  # the operator's cap on a TOC's size (else from its parts)
    files: dict[str, str] = field(default_factory=dict)  # bundle name -> its TOC's file name

    @property
    def where(self) -> str:
        """The directory or ``s3://`` prefix, as messages name it."""
        return self.target.describe()

    def for_mirror(self, mirror: str | None) -> list[TocSummary]:
        return [t for t in self.tocs if mirror is None or t.mirror == mirror]

    def check(self, bundle: TocHeader) -> list[str]:
        """Every problem with the parts of ``bundle`` here; none when each one verifies."""
        try:
            return verify_parts(self.target, bundle)
        except TargetError as exc:
            return [str(exc)]

    def import_order(self, snapshot: str | None, mirror: str | None = None
                     ) -> list[TocSummary]:
        """The bundles (of ``mirror``, or of any) to apply, in order, to a mirror now at
        ``snapshot`` (None: an empty one)."""
        return import_chain(self.for_mirror(mirror), snapshot)

    def limit(self, toc_file: str) -> int:
        return self.max_toc if self.max_toc is not None else toc_limit(self.target, toc_file)

    def load(self, summary: TocSummary) -> Toc:
        """The whole TOC of one bundle listed here, checked to be the one summarized."""
        name = self.files.get(summary.name, summary.toc_name)
        where = f"{self.target.describe()}/{name}"
        toc = load_toc(self.target, name, self.limit(name), where=where)
        if (toc.name, toc.snapshot, toc.base, toc.parts) != (
                summary.name, summary.snapshot, summary.base, summary.parts):
            raise TocError(f"{where}: changed while being read")
        return toc


def open_bundles(src: str, *, max_toc: int | None = None) -> BundleCatalog:
    """The bundles in ``src``: a directory, an ``s3://`` prefix, or the path/URL of one
    ``.toc.json``. TOCs are read streaming and capped in size (``max_toc``, else from the
    bytes of their parts); one that cannot be read is a line in ``problems``, not an error.
    Raises :class:`~.errors.BundleError` when ``src`` itself cannot be read."""
    if src.endswith(TOC_SUFFIX):
        parent, _, leaf = src.rstrip("/").rpartition("/")
        if not parent and not src.startswith("s3://"):
            parent = "."
        target = open_target(parent if parent else src)
        if target.size_of(leaf) is None:
            raise TargetError(f"{src}: missing")
        catalog = BundleCatalog(target, [], [], explicit=True, max_toc=max_toc)
        summary = read_summary(target, leaf, catalog.limit(leaf), where=src)
        catalog.tocs.append(summary)
        catalog.files[summary.name] = leaf
        return catalog
    target = open_target(src)
    names = target.names()
    if not names and not src.startswith("s3://"):
        from pathlib import Path

        if not Path(src).is_dir():
            raise TargetError(f"{src}: not a directory")
    catalog = BundleCatalog(target, [], [], max_toc=max_toc)
    for name in names:
        if not name.endswith(TOC_SUFFIX):
            continue
        where = f"{target.describe()}/{name}"
        limit = max_toc if max_toc is not None else toc_limit(target, name, names)
        try:
            summary = read_summary(target, name, limit, where=where)
            catalog.tocs.append(summary)
            catalog.files.setdefault(summary.name, name)
        except (TocError, TargetError) as exc:
            catalog.problems.append(str(exc))
    catalog.tocs.sort(key=lambda t: (t.mirror, t.snapshot, t.base is not None, t.name))
    return catalog


def verify_parts(target: Target, toc: TocHeader) -> list[str]:
    """Every problem with the parts of ``toc`` (missing, wrong size, wrong sha256, extra)."""
    where = target.describe()
    problems: list[str] = []
    for part in toc.parts:
        try:
            size = target.size_of(part.name)
        except TargetError as exc:
            problems.append(str(exc))
            continue
        if size is None:
            problems.append(f"{where}/{part.name}: missing part")
            continue
        if size != part.size:
            what = "truncated" if size < part.size else "too long"
            problems.append(f"{where}/{part.name}: {what}: {size} bytes, the TOC says "
                            f"{part.size}")
            continue
        try:
            digest = _hash(target, part.name)
        except TargetError as exc:
            problems.append(str(exc))
            continue
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


def import_chain(tocs: list[TocSummary], current: str | None) -> list[TocSummary]:
    """The bundles to apply, in order, to a mirror now at snapshot ``current``.

    Deltas are followed from ``current``; an empty mirror (or one no delta continues) starts
    from the newest full bundle newer than what it holds.
    """
    chain: list[TocSummary] = []
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
