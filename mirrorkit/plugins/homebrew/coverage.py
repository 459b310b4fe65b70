"""What each mirrored OCI manifest covers, remembered between runs (in the plugin's state).

An image index tag (``1.2.3``) is not immutable upstream: when bottles for a new platform
are published for the same version, Homebrew re-pushes the tag with one more descriptor.
A manifest already in the mirror is therefore kept without asking upstream only when it is
known to name every bottle the selection needs; otherwise it is fetched again (a cheap
conditional request). Knowing it without re-reading thousands of files is what this record
is for: ``{manifest sha256: {ref name: [bottle sha256, size]}}``, keyed by the sha256 the
core gives for each manifest (``Fetched.sha256``, or the previous snapshot's entry), and
saved with the snapshot by the core (``ctx.state``), so it lives wherever the mirror does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mirrorkit.api import PluginState

from .oci import BottleRef

__all__ = ["Bottles", "ManifestCoverage"]

#: the state file, and the version of its value
STATE_NAME = "manifest-coverage.json"
STATE_VERSION = 1

Bottles = dict[str, tuple[str, int | None]]


def _bottles(refs: Any) -> Bottles:
    return {str(ref): (str(v[0]), None if v[1] is None else int(v[1])) for ref, v in refs.items()}


class ManifestCoverage:
    def __init__(self, known: dict[str, Bottles]) -> None:
        self._known = known
        self._used: set[str] = set()

    @classmethod
    async def load(cls, state: PluginState) -> ManifestCoverage:
        saved = await state.read_json(STATE_NAME, version=STATE_VERSION)
        known: dict[str, Bottles] = {}
        if isinstance(saved, dict):
            for sha, refs in saved.items():
                if isinstance(refs, dict):
                    known[str(sha)] = _bottles(refs)
        return cls(known)

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

    def save(self, state: PluginState) -> None:
        """Keep what this run used (so the record does not grow with upstream history)."""
        state.write_json(STATE_NAME, {
            sha: {ref: list(v) for ref, v in self._known[sha].items()}
            for sha in sorted(self._used)}, version=STATE_VERSION)
