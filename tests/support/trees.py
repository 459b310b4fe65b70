"""What a mirror serves, as tests compare it: sha256 of every file outside ``.mirrorkit/``."""

from __future__ import annotations

import hashlib
from pathlib import Path


def mirror_tree(dest: Path) -> dict[str, str]:
    """sha256 of every served file (everything outside .mirrorkit/)."""
    out = {}
    for path in sorted(dest.rglob("*")):
        rel = path.relative_to(dest).as_posix()
        if path.is_file() and not rel.startswith(".mirrorkit"):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
