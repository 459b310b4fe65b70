"""``mirrorkit verify s3://bucket/prefix``: check a published copy against its state.

Every object the published state names is checked for presence, size and the sha256
stored in its metadata (one HEAD each, concurrently); by default each is also downloaded
and re-hashed, which is the only check that catches an object replaced by someone who
copied the metadata along. ``--quick`` skips the downloads.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..manifest import FileEntry, ManifestError
from ..verify import VerifyResult
from .client import S3Error, describe, is_not_found, make_client
from .state import load_published
from .target import S3Target, TargetError

__all__ = ["verify_published"]

WORKERS = 16
CHUNK = 1024 * 1024


def verify_published(url: str, *, rehash: bool) -> VerifyResult:
    result = VerifyResult(target=url)
    try:
        target = S3Target.parse(url)
        client = make_client(WORKERS)
        published = load_published(client, target)
    except (TargetError, S3Error, ManifestError) as exc:
        result.problems.append(str(exc))
        return result
    if published is None:
        result.problems.append(f"{url}: nothing published here (no {target.state_key})")
        return result
    result.target = str(target)
    result.snapshot = published.snapshot
    items = sorted(published.files.items())
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = pool.map(lambda kv: _check(client, target, kv[0], kv[1], rehash), items)
        for (path, entry), outcome in zip(items, outcomes, strict=True):
            result.checked += 1
            if outcome is None:
                result.bytes += entry.size
            elif outcome == "missing":
                result.missing.append(path)
            elif outcome == "corrupt":
                result.corrupt.append(path)
            else:
                result.problems.append(f"{path}: {outcome}")
    return result


def _check(client: Any, target: S3Target, path: str, entry: FileEntry,
           rehash: bool) -> str | None:
    key = target.key(path)
    try:
        head = client.head_object(Bucket=target.bucket, Key=key)
    except Exception as exc:
        return "missing" if is_not_found(exc) else f"cannot check: {describe(exc)}"
    stored = (head.get("Metadata") or {}).get("sha256")
    if head.get("ContentLength") != entry.size or stored != entry.sha256:
        return "corrupt"
    if not rehash:
        return None
    try:
        body = client.get_object(Bucket=target.bucket, Key=key)["Body"]
        h = hashlib.sha256()
        for chunk in body.iter_chunks(CHUNK):
            h.update(chunk)
    except Exception as exc:
        return "missing" if is_not_found(exc) else f"cannot download: {describe(exc)}"
    return None if h.hexdigest() == entry.sha256 else "corrupt"
