"""What each mirrored OCI manifest covers, remembered between runs (in the plugin's work dir).

An image index tag (``1.2.3``) is not immutable upstream: when bottles for a new platform
are published for the same version, Homebrew re-pushes the tag with one more descriptor.
A manifest already in the mirror is therefore kept without asking upstream only when it is
known to name every bottle the selection needs; otherwise it is fetched again (a cheap
conditional request). Knowing it without re-reading thousands of files is what this cache
is for: ``{manifest sha256: {ref name: [bottle sha256, size]}}``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from .oci import BottleRef

__all__ = ["ManifestCoverage"]

log = logging.getLogger("mirrorkit.registry.homebrew")

_FILE = "homebrew-manifests.json"
_FORMAT = 1

Bottles = dict[str, tuple[str, int | None]]


class ManifestCoverage:
    def __init__(self, path: Path, known: dict[str, Bottles]) -> None:
        self.path = path
        self._known = known
        self._used: set[str] = set()

    @classmethod
    def load(cls, work_dir: Path) -> ManifestCoverage:
        path = work_dir / _FILE
        known: dict[str, Bottles] = {}
        try:
            data = json.loads(path.read_bytes())
            if isinstance(data, dict) and data.get("format") == _FORMAT:
                for sha, refs in data["manifests"].items():
                    known[sha] = {ref: (str(v[0]), v[1]) for ref, v in refs.items()}
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            log.warning("ignoring unreadable %s (%s); manifests will be checked again", path, exc)
            known = {}
        return cls(path, known)

    def record(self, manifest_sha256: str, bottles: Bottles) -> None:
        self._known[manifest_sha256] = bottles
        self._used.add(manifest_sha256)

    def bottles(self, manifest_sha256: str | None) -> Bottles | None:
        if manifest_sha256 is None:
            return None
        found = self._known.get(manifest_sha256)
        if found is not None:
            self._used.add(manifest_sha256)
        return found

    @staticmethod
    def missing(bottles: Bottles, refs: Iterable[BottleRef]) -> list[BottleRef]:
        """The refs brew would not find in a manifest naming ``bottles``."""
        return [r for r in refs if bottles.get(r.ref_name, ("",))[0] != r.sha256]

    def save(self) -> None:
        """Write what this run used (so the cache does not grow with upstream history)."""
        data = {
            "format": _FORMAT,
            "manifests": {sha: {ref: list(v) for ref, v in self._known[sha].items()}
                          for sha in sorted(self._used)},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(json.dumps(data, separators=(",", ":")).encode())
        os.replace(tmp, self.path)
