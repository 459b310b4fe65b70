"""The one error a bundle target (a directory or an S3 prefix) raises."""

from __future__ import annotations

__all__ = ["TargetError"]


class TargetError(Exception):
    """The target cannot be read or written; the message names it."""
