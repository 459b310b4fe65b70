"""Index files a Release lists but the server does not have, remembered between runs.

Debian's archive lists uncompressed ``Packages`` files it does not serve. Learning that
costs one HEAD request per file; remembering the answer (keyed by the SHA256 the Release
gives, so a new Release asks again) keeps a no-op re-run down to the three conditional
requests for the Release files of each suite.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["load_absent", "save_absent"]

_NAME = "apt-absent.json"


def load_absent(work_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((work_dir / _NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def save_absent(work_dir: Path, absent: dict[str, str]) -> None:
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = work_dir / f".{_NAME}.tmp"
    tmp.write_text(json.dumps(absent, sort_keys=True), encoding="utf-8")
    os.replace(tmp, work_dir / _NAME)
