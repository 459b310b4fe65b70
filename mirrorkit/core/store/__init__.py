"""Where a snapshot is committed: the changeset (what to do), the order (one function) and
the stores that carry it out (a local tree, an S3 bucket). S3 parts import boto3 and are
imported from their own modules, not from here."""

from __future__ import annotations

from .apply import apply_changeset
from .base import Store
from .changeset import (
    Changeset,
    Link,
    PathConflict,
    Put,
    build_changeset,
    check_path_set,
    diff_files,
)

__all__ = [
    "Changeset",
    "Link",
    "PathConflict",
    "Put",
    "Store",
    "apply_changeset",
    "build_changeset",
    "check_path_set",
    "diff_files",
]
