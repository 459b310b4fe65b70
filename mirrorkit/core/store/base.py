"""The write side of a mirror's storage: the few operations a commit needs.

A store is told what to do, never in which order: :func:`.apply.apply_changeset` owns the
order. The local tree (rename from staging), an S3 bucket (uploads, then deletes) and the
bundle importer's target all implement these calls.
"""

from __future__ import annotations

from typing import Protocol

from .changeset import Changeset, Link, Put
from .manifest import Manifest

__all__ = ["Store"]


class Store(Protocol):
    def describe(self) -> str:
        """Where the store writes, for messages (a directory or ``s3://bucket/prefix``)."""
        ...

    def preflight(self, changes: Changeset) -> None:
        """Refuse, before the first write, a changeset this store could only half-apply."""
        ...

    def put_many(self, puts: list[Put]) -> None:
        """Store every file (concurrently if the store can); return once all are stored."""
        ...

    def link(self, links: list[Link]) -> None:
        """Give each ``target``'s bytes the second name ``path``."""
        ...

    def delete_many(self, paths: list[str]) -> int:
        """Remove files (and the directories they leave empty); returns how many were there."""
        ...

    def publish(self, manifest: Manifest) -> None:
        """Replace the store's manifest: the last write, which makes the snapshot current."""
        ...
