"""``mirrorkit verify``: re-hash every file of a mirror against its manifest.

Hashing runs on a thread pool: hashlib releases the GIL on large buffers, so a verify uses
every core, which is what makes it faster than a single ``sha256sum`` process.

Verify holds no lock while it hashes (a long verify must not hold up the weekly run), so a
run committing meanwhile changes files under it: new files appear before the manifest names
them, replaced ones differ from the manifest read at the start, pruned ones vanish. What it
found is therefore only a suspicion until confirmed: it waits for any run to finish
(``settle`` seconds at most), then, holding the lock shared so that nothing changes, checks
each suspect path again against the manifest now committed. Only what fails that check is
reported.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel, Field

from ..fileops import hash_file
from .lock import MirrorLock, MirrorLocked, lock_holder
from .manifest import CORE_STATE_PREFIX, STATE_DIR, FileEntry, ManifestError, load_manifest

__all__ = ["VerifyResult", "forget_bad_files", "verify_tree"]

log = logging.getLogger("mirrorkit.verify")

POLL_S = 0.2


class VerifyResult(BaseModel):
    target: str
    snapshot: str | None = None
    checked: int = 0
    bytes: int = 0
    missing: list[str] = Field(default_factory=list)
    corrupt: list[str] = Field(default_factory=list)
    unexpected: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.unexpected or self.problems)

    def lines(self) -> list[str]:
        out = [f"missing: {p}" for p in self.missing]
        out += [f"corrupt: {p}" for p in self.corrupt]
        out += [f"unexpected: {p}" for p in self.unexpected]
        out += list(self.problems)
        return out


def _check_one(root: str, path: str, entry: FileEntry, rehash: bool) -> str | None:
    full = os.path.join(root, path)
    try:
        st = os.stat(full)
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    if st.st_size != entry.size:
        return "corrupt"
    if rehash and hash_file(full) != entry.sha256:
        return "corrupt"
    return None


def verify_tree(dest: Path, *, rehash: bool = True, workers: int | None = None,
                settle: float | None = 600.0) -> VerifyResult:
    """Check ``dest``; ``settle``: seconds to wait for a run before confirming what was
    found (None: the caller holds the lock itself, nothing can change)."""
    result = _verify_once(dest, rehash=rehash, workers=workers)
    if result.ok or result.snapshot is None or settle is None:
        return result
    return _confirm(dest, result, rehash=rehash, settle=settle)


def _confirm(dest: Path, result: VerifyResult, *, rehash: bool, settle: float) -> VerifyResult:
    deadline = time.monotonic() + settle
    told = False
    while True:
        holder = lock_holder(dest)
        if holder is None:
            try:
                with MirrorLock(dest, shared=True):
                    return _recheck(dest, result, rehash=rehash)
            except MirrorLocked:
                continue  # a run took it between the two looks
            except OSError:  # a read-only copy: nothing can be committing into it
                return _recheck(dest, result, rehash=rehash)
        if time.monotonic() >= deadline:
            result.problems.append(
                f"{dest} was being changed during the check ({holder}); the problems above "
                "may be that run's own work: verify again once it has finished")
            return result
        if not told:
            log.warning("%s is being changed (%s); waiting up to %.0fs to confirm %d "
                        "problems against the snapshot it commits", dest, holder, settle,
                        len(result.missing) + len(result.corrupt) + len(result.unexpected))
            told = True
        time.sleep(POLL_S)


def _recheck(dest: Path, first: VerifyResult, *, rehash: bool) -> VerifyResult:
    """The suspects of ``first``, checked against the manifest committed now."""
    try:
        manifest = load_manifest(dest)
    except ManifestError as exc:
        first.problems.append(str(exc))
        return first
    if manifest is None:
        return first
    result = first.model_copy(update={"snapshot": manifest.snapshot, "missing": [],
                                      "corrupt": [], "unexpected": []})
    root = str(dest)
    for path in sorted({*first.missing, *first.corrupt, *first.unexpected}):
        entry = manifest.files.get(path)
        if entry is None:
            if os.path.lexists(os.path.join(root, path)):
                result.unexpected.append(path)
            continue  # pruned by the run that was committing
        outcome = _check_one(root, path, entry, rehash)
        if outcome == "missing":
            result.missing.append(path)
        elif outcome == "corrupt":
            result.corrupt.append(path)
    return result


def _verify_once(dest: Path, *, rehash: bool, workers: int | None) -> VerifyResult:
    result = VerifyResult(target=str(dest))
    try:
        manifest = load_manifest(dest)
    except ManifestError as exc:
        result.problems.append(str(exc))
        return result
    if manifest is None:
        result.problems.append(f"{dest}: no mirrorkit manifest (is this a mirror?)")
        return result
    result.snapshot = manifest.snapshot
    root = str(dest)
    items = sorted(manifest.files.items())
    workers = workers or max(2, (os.cpu_count() or 2))
    # largest files first, so that no thread is left hashing a big file alone at the end
    by_size = sorted(items, key=lambda kv: -kv[1].size)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcome_of = dict(zip(
            (path for path, _ in by_size),
            pool.map(lambda kv: _check_one(root, kv[0], kv[1], rehash), by_size),
            strict=True,
        ))
        for path, entry in items:
            outcome = outcome_of[path]
            result.checked += 1
            if outcome == "missing":
                result.missing.append(path)
            elif outcome == "corrupt":
                result.corrupt.append(path)
            else:
                result.bytes += entry.size
    known = manifest.files
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d != STATE_DIR]
            rel_dir = ""
        for name in filenames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel not in known:
                result.unexpected.append(rel)
    result.unexpected.sort()
    return result


def forget_bad_files(dest: Path, result: VerifyResult) -> int:
    """Drop missing and corrupt files from the manifest (deleting the corrupt ones).

    The next run then fetches them again; without this a run trusts the manifest and only
    checks sizes, which is what keeps a no-op run fast. The core's plan record goes too:
    it says this snapshot is what the recorded inputs lead to, which is no longer true, so
    the next run plans in full even when nothing changed upstream. Call with the mirror lock
    held.
    A corrupt file reached through a symlinked directory is not deleted (that would delete
    outside the mirror): the repair is refused as a whole, with a problem naming the link.
    """
    from .safefs import SafeTree, UnsafeDestination

    manifest = load_manifest(dest)
    if manifest is None:
        return 0
    bad = set(result.missing) | set(result.corrupt)
    tree = SafeTree(dest)
    try:
        for path in sorted(result.corrupt):
            tree.check_parents(path)
    except UnsafeDestination as exc:
        result.problems.append(f"repair refused, nothing changed: {exc}")
        return 0
    for path in result.corrupt:
        tree.unlink(path)
    for path in bad:
        manifest.files.pop(path, None)
    if bad:
        manifest.state = {k: v for k, v in manifest.state.items()
                          if not k.startswith(CORE_STATE_PREFIX)}
        manifest.save(dest, keep_snapshots=0)
    return len(bad)
