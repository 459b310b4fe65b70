"""The published state: what the target holds, kept at ``<prefix>/.mirrorkit/published.json``.

It is a mirrorkit manifest (path, size, sha256, kind per file) of the snapshot last
published completely. Comparing it with the mirror's manifest tells what to upload and what
to delete without listing the bucket, which on a mirror of 100,000 objects is 100 list
requests and minutes on some S3-compatible stores. It is written last, so it only ever
describes a target whose every object is in place.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..manifest import FileEntry, Manifest, ManifestError
from .client import S3Error, describe, is_not_found
from .target import S3Target

__all__ = ["load_published", "published_manifest", "save_published"]


def load_published(client: Any, target: S3Target) -> Manifest | None:
    """The published manifest, or None when nothing was published there yet."""
    try:
        resp = client.get_object(Bucket=target.bucket, Key=target.state_key)
        raw = resp["Body"].read()
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise S3Error(f"{target}: cannot read the published state: {describe(exc)}") from None
    where = f"s3://{target.bucket}/{target.state_key}"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ManifestError(f"{where}: invalid JSON ({exc})") from None
    return Manifest.from_json(data, where=where)


def published_manifest(manifest: Manifest) -> Manifest:
    """What the target holds once ``manifest`` is published: only what S3 needs to know."""
    return Manifest(
        mirror=manifest.mirror, snapshot=manifest.snapshot, registry=manifest.registry,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        files={p: FileEntry(size=e.size, sha256=e.sha256, kind=e.kind)
               for p, e in manifest.files.items()},
    )


def save_published(client: Any, target: S3Target, manifest: Manifest) -> None:
    try:
        client.put_object(Bucket=target.bucket, Key=target.state_key, Body=manifest.dumps(),
                          ContentType="application/json", CacheControl="no-cache")
    except Exception as exc:
        raise S3Error(f"{target}: cannot write the published state: {describe(exc)}") from None
