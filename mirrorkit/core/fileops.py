"""Local file helpers shared by the engine, verify and the sinks (no network imports)."""

from __future__ import annotations

import os
from pathlib import Path

from .digest import new_hasher

__all__ = ["hash_file", "set_mtime"]


def hash_file(path: Path | str, algorithm: str = "sha256", size: int | None = None) -> str:
    """Hash a local file in 1 MiB reads (hashlib releases the GIL, so threads scale)."""
    h = new_hasher(algorithm, size)
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def set_mtime(path: Path | str, mtime: float | None) -> None:
    if mtime is not None:
        os.utime(path, (mtime, mtime))
