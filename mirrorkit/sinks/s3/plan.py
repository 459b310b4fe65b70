"""What a publish must do: the difference between the mirror and the published state.

Pure data in, data out, so the ordering rules are easy to read and test: blobs first,
then index files in waves (an index that names other index files goes after them, when
the manifest records an ``order``), then the deletions, then the new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby

from ...core.artifact import Kind
from ...core.manifest import FileEntry, Manifest

__all__ = ["PublishPlan", "make_plan"]


@dataclass(slots=True)
class PublishPlan:
    blobs: list[str] = field(default_factory=list)
    index_waves: list[list[str]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    unchanged: int = 0
    upload_bytes: int = 0
    state_changed: bool = False

    @property
    def uploads(self) -> int:
        return len(self.blobs) + sum(len(w) for w in self.index_waves)

    @property
    def nothing_to_do(self) -> bool:
        return not (self.uploads or self.deletes or self.state_changed)


def _order(entry: FileEntry) -> int:
    # indexes of one order value go up together; a higher order waits for the lower
    return entry.order


def make_plan(manifest: Manifest, published: Manifest | None, *,
              force: bool = False) -> PublishPlan:
    old = published.files if published is not None else {}
    plan = PublishPlan()
    indexes: list[tuple[int, str]] = []
    for path in sorted(manifest.files):
        entry = manifest.files[path]
        prev = old.get(path)
        if not force and prev is not None and prev.sha256 == entry.sha256 \
                and prev.size == entry.size:
            plan.unchanged += 1
            continue
        plan.upload_bytes += entry.size
        if entry.kind is Kind.INDEX:
            indexes.append((_order(entry), path))
        else:
            plan.blobs.append(path)
    indexes.sort()
    plan.index_waves = [[p for _, p in group]
                        for _, group in groupby(indexes, key=lambda item: item[0])]
    plan.deletes = sorted(p for p in old if p not in manifest.files)
    plan.state_changed = (published is None or published.snapshot != manifest.snapshot
                          or published.mirror != manifest.mirror)
    return plan
