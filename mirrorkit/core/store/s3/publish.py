"""Publish a mirror's committed snapshot to S3, in the order that keeps clients consistent.

The difference between the mirror's manifest and the published state is a changeset
(:mod:`mirrorkit.core.store.changeset`), applied to the bucket through the S3 store in the
one commit order of :mod:`mirrorkit.core.store.apply`: blobs, then index files in waves,
then the deletion of stale keys, then the published state, last, so it only ever describes
a complete target. If any step fails, the later steps are not taken: the previous indexes
stay served, and the next publish (which compares against the previous state) redoes the
work.

A publish that has something to write holds the target's lock, as a run into the bucket
does (:class:`.store.S3Lock`, under a lease); one with nothing to write only
reads it, and writes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..apply import apply_changeset
from ..changeset import Changeset, Put, build_changeset, diff_files
from ..lock import MirrorLock, MirrorLocked
from ..manifest import Manifest, ManifestError, load_manifest
from .client import S3Error, describe, make_client
from .publish_options import S3PublishOptions
from .state import load_published, published_manifest
from .store import S3Lock, S3Locked, S3Store
from .target import S3Target

__all__ = ["PublishError", "PublishResult", "publish_mirror"]


class PublishError(Exception):
    """Publishing failed or cannot start; one line for the operator.

    ``in_use``: refused because the mirror or the target is locked by another command, which
    the command line reports with its own exit code (3).
    """

    def __init__(self, message: str, *, in_use: bool = False) -> None:
        super().__init__(message)
        self.in_use = in_use


@dataclass(slots=True)
class PublishResult:
    target: str
    snapshot: str | None
    uploaded: int = 0
    uploaded_bytes: int = 0
    deleted: int = 0
    unchanged: int = 0
    duration_s: float = 0.0

    def summary(self) -> str:
        return (f"{self.target}: uploaded {self.uploaded} files "
                f"({self.uploaded_bytes / 1e6:.1f} MB), deleted {self.deleted}, "
                f"unchanged {self.unchanged} in {self.duration_s:.1f}s"
                + (f"; snapshot {self.snapshot}" if self.snapshot else ""))

    def to_json(self) -> dict[str, Any]:
        return {"status": "ok", **asdict(self)}


def publish_mirror(dest: Path, options: S3PublishOptions,
                   log: logging.Logger | None = None) -> PublishResult:
    """Publish ``dest`` to ``options.target`` (blocking; call it from a worker thread)."""
    log = log or logging.getLogger("mirrorkit.sink.s3")
    started = time.monotonic()
    target = options.s3_target
    try:
        if load_manifest(dest) is None:
            raise PublishError(f"{dest}: no mirrorkit manifest (run the mirror first)")
        with MirrorLock(dest, f"mirrorkit publish {target}", role="publish"):
            manifest = load_manifest(dest)  # again: the tree cannot change under the lock
            assert manifest is not None
            result = _publish_locked(dest, manifest, target, options, log)
    except (MirrorLocked, S3Locked) as exc:
        raise PublishError(str(exc), in_use=True) from None
    except (ManifestError, S3Error) as exc:
        raise PublishError(str(exc)) from None
    except (BotoCoreError, ClientError) as exc:
        raise PublishError(f"{target}: {describe(exc)}") from None
    result.duration_s = round(time.monotonic() - started, 3)
    return result


def _publish_locked(dest: Path, manifest: Manifest, target: S3Target,
                    options: S3PublishOptions, log: logging.Logger) -> PublishResult:
    client = make_client(options.concurrency)
    lock = S3Lock(client, target, f"mirrorkit publish {dest}", lease=options.lock_lease)
    lock.refuse_if_held()  # a live run or publish: refused before anything is written
    changes, result = _changes(dest, manifest, target, options, client)
    if changes is None:
        log.info("%s: already up to date (snapshot %s)", target, manifest.snapshot)
        return result
    with lock:
        # again, under the lock: another writer may have published since we looked
        changes, result = _changes(dest, manifest, target, options, client)
        if changes is None:
            return result
        log.info("%s: uploading %d blobs and %d index files (%.1f MB), then deleting %d",
                 target, len(changes.blobs), len(changes.puts) - len(changes.blobs),
                 changes.write_bytes / 1e6, len(changes.deletes) + len(changes.clear_first))
        store = S3Store(client, target, options.upload_settings(), log, lock=lock)
        result.deleted = apply_changeset(changes, store)
        result.uploaded, result.uploaded_bytes = store.uploader.uploaded, store.uploader.bytes
    return result


def _changes(dest: Path, manifest: Manifest, target: S3Target,
             options: S3PublishOptions, client: Any) -> tuple[Changeset | None, PublishResult]:
    """What publishing ``manifest`` changes at the target; None when it is up to date."""
    published = load_published(client, target)
    if published is not None and published.mirror and published.mirror != manifest.mirror \
            and not options.force:
        # publishing would delete every object of the other mirror as "stale"
        raise S3Error(f"{target} holds the mirror {published.mirror!r}, not "
                      f"{manifest.mirror!r}: give each mirror its own prefix (or --force "
                      "to replace it)")
    old = published.files if published is not None else {}
    changed, deleted = diff_files(manifest.files, old, force=options.force)
    result = PublishResult(target=str(target), snapshot=manifest.snapshot,
                           unchanged=len(manifest.files) - len(changed))
    state_changed = (published is None or published.snapshot != manifest.snapshot
                     or published.mirror != manifest.mirror)
    if not (changed or deleted or state_changed):
        return None, result
    changes = build_changeset(
        old, published_manifest(manifest),
        [Put(p, manifest.files[p], dest / p) for p in changed], where=str(target))
    return changes, result
