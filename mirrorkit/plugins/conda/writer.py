"""The index files of a selective mirror: upstream's records, only the mirrored ones.

Records are copied from upstream's repodata unchanged (every field a solver may read:
``constrains``, ``track_features``, ``timestamp``...); only the set of records differs.
Every variant is written from the one ``repodata.json``, so a client reading the ``.zst``
sees what one reading the ``.json`` sees. The files are written under the run's work
directory, each only when its bytes change (its modification time then stays, and the core
keeps the mirrored copy without hashing it again); the core copies them into the mirror.
"""

from __future__ import annotations

import json
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
    document = _document(info, sections, version)
    written = {REPODATA: _write_if_changed(out_dir / REPODATA, document)}
    for name in COMPRESSED:
        if name in variants:
            written[name] = _write_if_changed(out_dir / name, compress(name, document))
    if CURRENT in variants:
        written[CURRENT] = _write_if_changed(out_dir / CURRENT,
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
    return _write_if_changed(out_dir / "channeldata.json",
                             json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n")


def _write_if_changed(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` unless it already holds exactly these bytes."""
    try:
        same = target.stat().st_size == len(data) and target.read_bytes() == data
    except FileNotFoundError:
        same = False
    if not same:
        target.write_bytes(data)
    return target
