"""Publish a mirror's committed snapshot to S3, in the order that keeps clients consistent.

S3 has no rename, so the engine's trick (stage, then rename) is not available; the order of
writes is what keeps a client reading the bucket from ever meeting an index that names a
missing object:

1. new and changed blobs (concurrently; each object is replaced atomically by S3),
2. new and changed index files, after every blob is stored,
3. deletion of stale keys, after the indexes no longer name them,
4. the published state, last, so it only ever describes a complete target.

If any step fails, the later steps are not taken: the previous indexes stay served, and
the next publish (which compares against the previous state) redoes the work.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ...core.lock import MirrorLock, MirrorLocked
from ...core.manifest import Manifest, ManifestError, load_manifest
from .client import S3Error, describe, make_client
from .options import S3Options
from .plan import make_plan
from .state import load_published, published_manifest, save_published
from .target import S3Target
from .upload import Uploader

__all__ = ["PublishError", "PublishResult", "publish_mirror"]

DELETE_BATCH = 1000  # DeleteObjects' limit


class PublishError(Exception):
    """Publishing failed or cannot start; one line for the operator."""


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


def publish_mirror(dest: Path, options: S3Options, log: logging.Logger) -> PublishResult:
    """Publish ``dest`` to ``options.target`` (blocking; call it from a worker thread)."""
    started = time.monotonic()
    target = options.s3_target
    try:
        if load_manifest(dest) is None:
            raise PublishError(f"{dest}: no mirrorkit manifest (run the mirror first)")
        with MirrorLock(dest, f"mirrorkit publish {target}", role="publish"):
            manifest = load_manifest(dest)  # again: the tree cannot change under the lock
            assert manifest is not None
            result = _publish_locked(dest, manifest, target, options, log)
    except (MirrorLocked, ManifestError, S3Error) as exc:
        raise PublishError(str(exc)) from None
    except (BotoCoreError, ClientError) as exc:
        raise PublishError(f"{target}: {describe(exc)}") from None
    result.duration_s = round(time.monotonic() - started, 3)
    return result


def _publish_locked(dest: Path, manifest: Manifest, target: S3Target, options: S3Options,
                    log: logging.Logger) -> PublishResult:
    client = make_client(options.concurrency)
    published = load_published(client, target)
    if published is not None and published.mirror and published.mirror != manifest.mirror \
            and not options.force:
        # publishing would delete every object of the other mirror as "stale"
        raise S3Error(f"{target} holds the mirror {published.mirror!r}, not "
                      f"{manifest.mirror!r}: give each mirror its own prefix (or --force "
                      "to replace it)")
    plan = make_plan(manifest, published, force=options.force)
    result = PublishResult(target=str(target), snapshot=manifest.snapshot,
                           unchanged=plan.unchanged)
    if plan.nothing_to_do:
        log.info("%s: already up to date (snapshot %s)", target, manifest.snapshot)
        return result
    log.info("%s: uploading %d blobs and %d index files (%.1f MB), then deleting %d",
             target, len(plan.blobs), plan.uploads - len(plan.blobs),
             plan.upload_bytes / 1e6, len(plan.deletes))
    uploader = Uploader(client, target, dest, options, log)
    uploader.upload(plan.blobs, manifest.files)
    for wave in plan.index_waves:
        uploader.upload(wave, manifest.files)
    result.uploaded, result.uploaded_bytes = uploader.uploaded, uploader.bytes
    result.deleted = _delete(client, target, plan.deletes)
    save_published(client, target, published_manifest(manifest))
    return result


def _delete(client: Any, target: S3Target, paths: list[str]) -> int:
    for start in range(0, len(paths), DELETE_BATCH):
        batch = paths[start:start + DELETE_BATCH]
        try:
            resp = client.delete_objects(
                Bucket=target.bucket,
                Delete={"Objects": [{"Key": target.key(p)} for p in batch], "Quiet": True},
            )
        except Exception as exc:
            raise S3Error(f"{target}: deleting stale objects failed: {describe(exc)}") from None
        errors = resp.get("Errors") or []
        if errors:
            first = errors[0]
            raise S3Error(f"{target}: {len(errors)} stale objects could not be deleted: "
                          f"{first.get('Key')}: {first.get('Code')}: {first.get('Message')}")
    return len(paths)
