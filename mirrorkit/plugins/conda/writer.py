"""The index files of a selective mirror: upstream's records, only the mirrored ones.

Records are copied from upstream's repodata unchanged (every field a solver may read:
``constrains``, ``track_features``, ``timestamp``...); only the set of records differs.
Every variant is written from the one ``repodata.json``, so a client reading the ``.zst``
sees what one reading the ``.json`` sees. Files are replaced only when their bytes change,
which keeps a no-op re-run from touching the mirror.
"""

from __future__ import annotations

import filecmp
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .closure import Candidate, _rattler
from .repodata import SECTIONS, iter_records, read_top_level
from .variants import COMPRESSED, CURRENT, REPODATA, compress

__all__ = ["write_channeldata", "write_subdir"]


def write_subdir(upstream: Path, subdir: str, chosen: Mapping[str, Candidate],
                 variants: list[str], out_dir: Path) -> dict[str, Path]:
    """Write ``repodata.json`` and the ``variants`` upstream publishes; name -> file."""
    where = f"upstream {subdir}/{REPODATA}"
    info = read_top_level(upstream, "info")
    info = dict(info) if isinstance(info, dict) else {}
    info.setdefault("subdir", subdir)
    info.pop("base_url", None)  # packages are served beside this file, not from upstream
    version = read_top_level(upstream, "repodata_version")
    sections: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for section, filename, record in iter_records(upstream, where):
        if filename in chosen:
            sections[section][filename] = record
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {REPODATA: _replace(out_dir / REPODATA, _document(info, sections, version))}
    for name in COMPRESSED:
        if name in variants:
            tmp = out_dir / f".{name}.tmp"
            compress(name, written[REPODATA], tmp)
            written[name] = _replace_file(tmp, out_dir / name)
    if CURRENT in variants:
        written[CURRENT] = _replace(out_dir / CURRENT,
                                    _document(info, _newest(sections, chosen), version))
    return written


def _document(info: dict[str, Any], sections: Mapping[str, Mapping[str, Any]],
              version: Any) -> bytes:
    doc: dict[str, Any] = {"info": info}
    for section in SECTIONS:
        doc[section] = {f: sections[section][f] for f in sorted(sections[section])}
    doc["removed"] = []
    doc["repodata_version"] = version if isinstance(version, int) else 1
    return json.dumps(doc, indent=1, ensure_ascii=False).encode() + b"\n"


def _newest(sections: Mapping[str, Mapping[str, Any]],
            chosen: Mapping[str, Candidate]) -> dict[str, dict[str, Any]]:
    """current_repodata: each package name at its newest mirrored version (every build)."""
    version_of = _rattler().Version
    best: dict[str, Any] = {}
    for cand in chosen.values():
        version = version_of(cand.version)
        key = cand.name.lower()
        if key not in best or version > best[key]:
            best[key] = version
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for section, records in sections.items():
        for filename, record in records.items():
            cand = chosen[filename]
            if version_of(cand.version) == best[cand.name.lower()]:
                out[section][filename] = record
    return out


def write_channeldata(upstream: Path, names: set[str], subdirs: list[str],
                      out_dir: Path) -> Path:
    """channeldata.json naming only the mirrored packages and subdirs."""
    try:
        doc = json.loads(upstream.read_bytes())
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    packages = doc.get("packages")
    if not isinstance(packages, dict):
        packages = {}
    kept: dict[str, Any] = {}
    for name, entry in sorted(packages.items()):
        if name.lower() in names and isinstance(entry, dict):
            entry = dict(entry)
            if isinstance(entry.get("subdirs"), list):
                entry["subdirs"] = [s for s in entry["subdirs"] if s in subdirs]
            kept[name] = entry
    doc["packages"] = kept
    doc["subdirs"] = sorted(subdirs)
    out_dir.mkdir(parents=True, exist_ok=True)
    return _replace(out_dir / "channeldata.json",
                    json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n")


def _replace(target: Path, data: bytes) -> Path:
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    return _replace_file(tmp, target)


def _replace_file(tmp: Path, target: Path) -> Path:
    """Move ``tmp`` over ``target`` unless the bytes are the same (the mtime then stays)."""
    if target.exists() and filecmp.cmp(tmp, target, shallow=False):
        tmp.unlink()
    else:
        os.replace(tmp, target)
    return target
