"""The last complete plan, replayed when upstream's serial says nothing changed.

A no-op run then costs one request (the root listing, for its serial) and reading this
file, one artifact a line so that memory stays flat however large the mirror.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring_ascii as _quote  # a str as a JSON literal, in C
from pathlib import Path
from typing import IO, Any

from mirrorkit.api import Artifact, Kind, storable_url, usable_url

__all__ = ["PathPrint", "PlanCache", "Replay"]


class PlanCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: IO[str] | None = None
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._head: dict[str, Any] = {}
        self._print = PathPrint()

    # ------------------------------------------------------------ replaying
    def replay(self, key: str, serial: int | None, index_url: str) -> Replay | None:
        """The cached plan if it was made for ``key`` at ``serial``; its URLs get their
        credentials from ``index_url`` (they are stored without)."""
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
        return Replay(fh, str(head.get("paths")), index_url)

    # ------------------------------------------------------------- recording
    def start(self, key: str, serial: int | None) -> None:
        self.discard()
        self._print = PathPrint()
        if serial is None:
            return
        self._head = {"key": key, "serial": serial}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._out = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115

    def record(self, art: Artifact) -> None:
        if self._out is None:
            return
        self._print.add(art.path)
        # the line is put together here: json.dumps of a small dict per artifact cost more
        # than the rest of the recording (each call sets up a new encoder)
        parts = ['{"p":', _quote(art.path)]
        if art.source is not None:
            parts += [',"s":', _quote(str(art.source))]
            if art.order:
                parts.append(f',"o":{int(art.order)}')
        else:
            parts += [',"u":', _quote(storable_url(art.url or ""))]
            if art.digest is not None:
                parts += [',"h":', _quote(art.digest.hex)]
            if art.size is not None:
                parts.append(f',"z":{int(art.size)}')
        parts.append("}\n")
        self._out.write("".join(parts))

    def finish(self, complete: bool) -> None:
        """Keep the recording only for a complete plan (nothing left unknown)."""
        if self._out is None:
            return
        self._out.close()
        self._out = None
        if complete:
            # the header goes first; it is known only now (the fingerprint of every path)
            head = json.dumps({**self._head, "paths": str(self._print)}) + "\n"
            final = self._tmp.with_name(self._tmp.name + ".2")
            with open(final, "w", encoding="utf-8") as out, \
                    open(self._tmp, encoding="utf-8") as body:
                out.write(head)
                shutil.copyfileobj(body, out)
            os.replace(final, self.path)
        self._tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class Replay:
    """A recorded plan: the fingerprint of its paths, and its artifacts line by line."""

    def __init__(self, fh: IO[str], paths: str, index_url: str) -> None:
        self._fh = fh
        self.paths = paths
        self.index_url = index_url

    def close(self) -> None:
        self._fh.close()

    def artifacts(self) -> Iterator[Artifact]:
        fh, index_url = self._fh, self.index_url
        with fh:
            for line in fh:
                d: dict[str, Any] = json.loads(line)
                if "s" in d:
                    if not os.path.exists(d["s"]):  # a page lost from the work dir
                        raise FileNotFoundError(d["s"])
                    yield Artifact.local(d["p"], Path(d["s"]), kind=Kind.INDEX,
                                         order=d.get("o", 0))
                elif "h" in d:
                    yield Artifact.blob(d["p"], usable_url(d["u"], index_url), sha256=d["h"],
                                        size=d.get("z"))
                else:
                    yield Artifact.blob(d["p"], usable_url(d["u"], index_url), size=d.get("z"),
                                        immutable=True)


class PathPrint:
    """An order-free fingerprint of a set of paths, built one path at a time (flat memory):
    the count and the sum of each path's hash."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0

    def add(self, path: str) -> None:
        self.count += 1
        self.total = (self.total + int.from_bytes(
            hashlib.blake2b(path.encode(), digest_size=16).digest(), "big")) % (1 << 128)

    def __str__(self) -> str:
        return f"{self.count}:{self.total:032x}"

    @classmethod
    def of(cls, paths: Iterable[str]) -> PathPrint:
        out = cls()
        for path in paths:
            out.add(path)
        return out
