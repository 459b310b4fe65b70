"""The files a run adds, replaces or removes: what ``mirrorkit plan`` lists and the report's
``changes``.

Computed from the run itself (dry or real), so ``mirrorkit plan`` and ``mirrorkit run`` list
the same files: unchanged files (kept, not modified upstream, generated with the same bytes)
are left out, failed ones are in the report's errors instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter

from ..plan.artifact import Artifact, Kind
from ..store.manifest import FileEntry
from .ledger import RunLedger
from .report import PlannedChange

__all__ = ["planned_changes"]

_CHANGES = TypeAdapter(list[PlannedChange])
_KIND_NAMES = {kind: kind.value for kind in Kind}  # Enum.value is a property call


def planned_changes(prev_files: Mapping[str, FileEntry], planned: dict[str, Artifact],
                    ledger: RunLedger) -> list[PlannedChange]:
    out: list[dict[str, Any]] = []  # validated at once: one model at a time cost twice as much
    entries, failed, would_change = ledger.entries, ledger.failed, ledger.would_change
    for path, art in planned.items():
        if path in failed:
            continue
        prev = prev_files.get(path)
        if art.link_to is not None:
            target = entries.get(art.link_to)
            target_prev = prev_files.get(art.link_to)
            if prev is not None and (
                (target is not None and target.sha256 == prev.sha256)
                or (target is None and target_prev is not None
                    and target_prev.sha256 == prev.sha256
                    and art.link_to not in would_change)):
                continue
            size = target.size if target is not None else (
                planned[art.link_to].size if art.link_to in planned else None)
        else:
            entry = entries.get(path)
            if entry is not None and prev is not None and entry.sha256 == prev.sha256:
                continue
            size = entry.size if entry is not None else would_change.get(path, art.size)
        out.append({"path": path, "size": size, "kind": _KIND_NAMES[art.kind],
                    "reason": "changed" if prev is not None else "new"})
    # a file kept without being planned (``ctx.keep_previous``) stays; one kept only for its
    # prune grace goes
    out += [{"path": path, "size": entry.size, "kind": _KIND_NAMES[entry.kind],
             "reason": "removed"}
            for path, entry in prev_files.items()
            if path not in planned and (path not in entries
                                        or entries[path].stale_since is not None)]
    return _CHANGES.validate_python(out)
