"""Local file helpers shared by the engine, verify and the sinks (no network imports)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from .plan.digest import new_hasher

__all__ = ["copy_hashing", "hash_file", "set_mtime", "write_chunks"]


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


def write_chunks(path: Path | str, chunks: Iterable[bytes]) -> None:
    """Write a body kept as received (joining the chunks would copy it once more)."""
    with open(path, "wb") as fh:
        for data in chunks:
            fh.write(data)


def copy_hashing(src: Path, dst: Path, other_algorithm: str | None) -> tuple[str, str | None]:
    """Copy ``src`` to ``dst`` in one pass, returning its sha256 (and another digest)."""
    sha = hashlib.sha256()
    other = (new_hasher(other_algorithm, os.stat(src).st_size)
             if other_algorithm is not None else None)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(1024 * 1024):
            sha.update(chunk)
            if other is not None:
                other.update(chunk)
            fout.write(chunk)
    return sha.hexdigest(), other.hexdigest() if other is not None else None
