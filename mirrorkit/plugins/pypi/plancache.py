"""The last complete plan, replayed when upstream's serial says nothing changed.

A no-op run then costs one request (the root listing, for its serial) and reading this
file, one artifact a line so that memory stays flat however large the mirror.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mirrorkit.api import Artifact, Kind

__all__ = ["PlanCache"]


class PlanCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: IO[str] | None = None
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")

    # ------------------------------------------------------------ replaying
    def replay(self, key: str, serial: int | None) -> Iterator[Artifact] | None:
        """The cached plan's artifacts if it was made for ``key`` at ``serial``."""
        if serial is None:
            return None
        try:
            fh = open(self.path, encoding="utf-8")  # noqa: SIM115 (closed by the iterator)
        except OSError:
            return None
        try:
            head = json.loads(fh.readline() or "null")
        except ValueError:
            head = None
        if not isinstance(head, dict) or head.get("key") != key or head.get("serial") != serial:
            fh.close()
            return None
        return self._artifacts(fh)

    @staticmethod
    def _artifacts(fh: IO[str]) -> Iterator[Artifact]:
        with fh:
            for line in fh:
                d: dict[str, Any] = json.loads(line)
                if "s" in d:
                    if not os.path.exists(d["s"]):  # a page lost from the work dir
                        raise FileNotFoundError(d["s"])
                    yield Artifact.local(d["p"], Path(d["s"]), kind=Kind.INDEX,
                                         order=d.get("o", 0))
                elif "h" in d:
                    yield Artifact.blob(d["p"], d["u"], sha256=d["h"], size=d.get("z"))
                else:
                    yield Artifact.blob(d["p"], d["u"], size=d.get("z"), immutable=True)

    # ------------------------------------------------------------- recording
    def start(self, key: str, serial: int | None) -> None:
        self.discard()
        if serial is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._out = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115
        self._out.write(json.dumps({"key": key, "serial": serial}) + "\n")

    def record(self, art: Artifact) -> None:
        if self._out is None:
            return
        d: dict[str, Any] = {"p": art.path}
        if art.source is not None:
            d["s"] = str(art.source)
            if art.order:
                d["o"] = art.order
        else:
            d["u"] = art.url
            if art.digest is not None:
                d["h"] = art.digest.hex
            if art.size is not None:
                d["z"] = art.size
        self._out.write(json.dumps(d, separators=(",", ":")) + "\n")

    def finish(self, complete: bool) -> None:
        """Keep the recording only for a complete plan (nothing left unknown)."""
        if self._out is None:
            return
        self._out.close()
        self._out = None
        if complete:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
