"""``s3://bucket/prefix`` targets: parsing, and the keys a mirror path maps to."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["STATE_KEY", "S3Target", "TargetError"]

STATE_KEY = ".mirrorkit/published.json"
# S3's rules, relaxed to what S3-compatible stores (MinIO, Ceph) also accept
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


class TargetError(ValueError):
    """Not a usable ``s3://bucket/prefix``."""


@dataclass(frozen=True, slots=True)
class S3Target:
    bucket: str
    prefix: str  # no leading or trailing slash; "" for the bucket root

    @classmethod
    def parse(cls, url: str) -> S3Target:
        if not url.startswith("s3://"):
            raise TargetError(f"{url!r}: expected s3://bucket/prefix")
        bucket, _, prefix = url[5:].partition("/")
        if not _BUCKET.match(bucket):
            raise TargetError(f"{url!r}: {bucket!r} is not a valid bucket name")
        prefix = prefix.strip("/")
        parts = prefix.split("/") if prefix else []
        if any(p in ("", ".", "..") for p in parts):
            raise TargetError(f"{url!r}: the prefix must not contain empty, '.' or '..' parts")
        return cls(bucket, prefix)

    def key(self, path: str) -> str:
        """The object key of a mirror-relative path."""
        return f"{self.prefix}/{path}" if self.prefix else path

    @property
    def state_key(self) -> str:
        return self.key(STATE_KEY)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
