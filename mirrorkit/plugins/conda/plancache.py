"""The package list of a subdir, kept while its ``repodata.json`` is unchanged.

Parsing conda-forge's linux-64 repodata (over 200 MB) costs seconds; a no-op re-run gets
``304 Not Modified`` for it and needs the same list again. The list (file name, digest,
size: about 130 bytes a package) is stored in the plugin's work directory under the
repodata's sha256, and read back instead of parsing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO

from .repodata import PackageRef, new_ref

__all__ = ["PlanCache"]

log = logging.getLogger("mirrorkit.registry.conda")
_FORMAT = "mirrorkit-conda-plan 1"


class PlanCache:
    """One list per subdir (a line a package) and a key file naming the repodata's sha256."""

    def __init__(self, work_dir: Path, subdir: str, kind: str = "whole") -> None:
        self.path = work_dir / "conda" / "plans" / f"{kind}-{subdir}.tsv"
        self.key_path = self.path.with_suffix(".key")
        self.subdir = subdir

    def load(self, repodata_sha256: str) -> list[PackageRef] | None:
        try:
            if self.key_path.read_text().strip() != f"{_FORMAT} {repodata_sha256}":
                return None
            with open(self.path, encoding="utf-8") as fh:
                refs = []
                subdir = self.subdir
                for line in fh:
                    name, algorithm, hexdigest, size = line.rstrip("\n").split("\t")
                    refs.append(new_ref((subdir, name, algorithm, hexdigest,
                                         int(size) if size else None)))
                return refs
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s (%s)", self.path, exc)
            return None

    def writer(self) -> PlanWriter:
        return PlanWriter(self)


class PlanWriter:
    """Writes the list while the repodata is parsed; it counts only once :meth:`commit` ran."""

    def __init__(self, cache: PlanCache) -> None:
        self._cache = cache
        cache.path.parent.mkdir(parents=True, exist_ok=True)
        cache.key_path.unlink(missing_ok=True)
        self._tmp = cache.path.with_name(f".{cache.path.name}.{os.getpid()}.tmp")
        self._fh: IO[str] | None = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115

    def add(self, ref: PackageRef) -> None:
        assert self._fh is not None
        size = "" if ref.size is None else str(ref.size)
        self._fh.write(f"{ref.filename}\t{ref.algorithm}\t{ref.hexdigest}\t{size}\n")

    def commit(self, repodata_sha256: str) -> None:
        assert self._fh is not None
        self._fh.close()
        self._fh = None
        os.replace(self._tmp, self._cache.path)
        self._cache.key_path.write_text(f"{_FORMAT} {repodata_sha256}\n")

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._tmp.unlink(missing_ok=True)
