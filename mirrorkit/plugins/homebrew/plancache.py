"""The bottle selection of the last run, reused while the API files and options are the same.

Reading the API files is most of a no-op run's time (about 130 MB of JSON, parsed twice as
JWS payloads are JSON inside JSON). The selection they lead to depends only on their bytes
and on the options, so it is stored in the plugin's work dir under a key made of both; a
re-run whose API files all came back ``304 Not Modified`` loads it instead of re-parsing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .oci import BottleRef
from .options import HomebrewOptions

__all__ = ["SelectionCache", "selection_key"]

log = logging.getLogger("mirrorkit.registry.homebrew")

_FILE = "homebrew-selection.json"
_FORMAT = 1


def selection_key(files: Mapping[str, str], options: HomebrewOptions, tags: list[str]) -> str:
    """A digest of everything the selection depends on (``files``: path -> sha256)."""
    h = hashlib.sha256(json.dumps(
        {"format": _FORMAT, "tags": tags, "formulae": options.formulae, "deps": options.deps}
    ).encode())
    for relpath in sorted(files):
        h.update(f"\0{relpath}\0{files[relpath]}".encode())
    return h.hexdigest()


@dataclass(slots=True)
class SelectionCache:
    """What the last run derived from the API files: its tags and its bottle selection."""

    formula_sha256: str = ""  # the formula.jws.json the default tags were read from
    tags: list[str] = field(default_factory=list)
    key: str = ""  # selection_key() of the bottles below
    bottles: list[BottleRef] = field(default_factory=list)

    @classmethod
    def load(cls, work_dir: Path) -> SelectionCache:
        try:
            data = json.loads((work_dir / _FILE).read_bytes())
            if data.get("format") != _FORMAT:
                return cls()
            return cls(
                formula_sha256=str(data["formula_sha256"]),
                tags=[str(t) for t in data["tags"]],
                key=str(data["key"]),
                bottles=[BottleRef(str(f), str(v), int(r), str(t), str(s))
                         for f, v, r, t, s in data["bottles"]],
            )
        except FileNotFoundError:
            return cls()
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable %s (%s)", work_dir / _FILE, exc)
            return cls()

    def save(self, work_dir: Path) -> None:
        path = work_dir / _FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        data = {"format": _FORMAT, "formula_sha256": self.formula_sha256, "tags": self.tags,
                "key": self.key, "bottles": self.bottles}
        tmp.write_bytes(json.dumps(data, separators=(",", ":")).encode())
        os.replace(tmp, path)
