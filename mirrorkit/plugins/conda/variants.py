"""The index files of a subdir besides ``repodata.json``, and how they must agree with it.

Clients pick different files: rattler (pixi, mamba 2) reads ``repodata.json.zst`` first,
old conda ``repodata.json.bz2`` or ``current_repodata.json``. A mirror where they disagree
installs different things depending on the client, so each variant is checked against
(whole mirror) or written from (selective mirror) the one ``repodata.json``.
"""

from __future__ import annotations

import bz2
import hashlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from mirrorkit.api import PlanError

__all__ = ["COMPRESSED", "CURRENT", "OPTIONAL", "compress", "decompressed_sha256",
           "zstandard_module"]

REPODATA = "repodata.json"
CURRENT = "current_repodata.json"
#: compressed copies of repodata.json, by file name
COMPRESSED = ("repodata.json.zst", "repodata.json.bz2")
#: published by some channels and mirrored when they are
OPTIONAL = (*COMPRESSED, CURRENT)
_CHUNK = 1 << 20


def zstandard_module() -> Any:
    """The ``zstandard`` module, or a :class:`PlanError` that names it as missing: a
    ``.zst`` that cannot be read here is never blamed on upstream."""
    try:
        import zstandard
    except ImportError:
        raise PlanError("repodata.json.zst needs the Python module 'zstandard', which is not "
                        "installed (it is a dependency of mirrorkit-offline: pip install "
                        "zstandard)") from None
    return zstandard


def _zst_reader(fh: IO[bytes]) -> IO[bytes]:
    reader: IO[bytes] = zstandard_module().ZstdDecompressor().stream_reader(fh)
    return reader


def _bz2_reader(fh: IO[bytes]) -> IO[bytes]:
    return bz2.BZ2File(fh)


_READERS: dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
    ".zst": _zst_reader, ".bz2": _bz2_reader,
}


def decompressed_sha256(name: str, path: Path, stop: threading.Event | None = None,
                        ) -> str | None:
    """sha256 of the content of variant ``name`` stored at ``path``, streaming; None if it
    does not decompress (or ``stop`` was set: the run no longer needs it)."""
    opener = _READERS[Path(name).suffix]
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh, opener(fh) as src:
            while chunk := src.read(_CHUNK):
                if stop is not None and stop.is_set():
                    return None
                h.update(chunk)
    except PlanError:  # a module missing here, not a fault of the file
        raise
    except Exception:  # zstandard.ZstdError, OSError, EOFError: all mean "not that format"
        return None
    return h.hexdigest()


def compress(name: str, data: bytes) -> bytes:
    """The ``name`` variant (``.zst``/``.bz2``) of ``data``.

    Deterministic (fixed level, no timestamps), so an unchanged selection gives the same
    bytes and the mirror keeps its file.
    """
    if name.endswith(".zst"):
        out: bytes = zstandard_module().ZstdCompressor(level=16).compress(data)
        return out
    return bz2.compress(data, compresslevel=9)


def missing_from(current: Iterable[tuple[str, Any]], known: dict[str, str]) -> str | None:
    """The first record of current_repodata that repodata.json does not list identically."""
    for filename, record in current:
        sha = record.get("sha256") or record.get("md5") if isinstance(record, dict) else None
        if known.get(filename) != sha:
            return filename
    return None
