"""What a mirror holds, as tests compare it: sha256 of its files (and its directories)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def files(dest: Path) -> set[str]:
    """The relative path of every served file (no ``.mirrorkit/`` at any depth)."""
    out = set()
    for root, dirs, names in os.walk(dest):
        dirs[:] = [d for d in dirs if d != ".mirrorkit"]
        out.update(os.path.relpath(os.path.join(root, n), dest) for n in names)
    return out


def mirror_tree(dest: Path) -> dict[str, str]:
    """sha256 of every served file (everything outside .mirrorkit/)."""
    out = {}
    for path in sorted(dest.rglob("*")):
        rel = path.relative_to(dest).as_posix()
        if path.is_file() and not rel.startswith(".mirrorkit"):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def tree(root: Path, *, with_state: bool = False) -> dict[str, str]:
    """Every file (sha256) and directory ("dir") under ``root``; the state dir optional.

    Stricter than :func:`mirror_tree`: an empty directory left behind shows as a difference.
    """
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == "." and not with_state:
            dirnames[:] = [d for d in dirnames if d != ".mirrorkit"]
        for d in dirnames:
            out[os.path.normpath(os.path.join(rel_dir, d))] = "dir"
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            out[rel] = hashlib.sha256(Path(dirpath, name).read_bytes()).hexdigest()
    return out
