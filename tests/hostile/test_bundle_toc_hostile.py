"""Hostile bundle TOCs: ``mirrorkit import`` refuses each with one line naming the key.

The TOC is the one file read before any part is verified, so every field is attacked:
traversal in file, part and deleted names, wrong types, huge numbers, digests of the wrong
length, duplicates. (Crafted tar members are covered by tests/sinks/bundle.) Nothing is
created at the import target, nothing written beside it.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mirrorkit.core.bundle.toc import FileInfo, PartInfo, Toc, tree_digest
from tests.hostile.harness import Sentinel, assert_clear_error, invoke

SNAP = "20260108T000000Z-bbbbbb"
NAME = f"demo-{SNAP}-full"
GOOD = b"good file\n"


def write_bundle(out: Path) -> dict[str, Any]:
    """A small valid bundle in ``out``; returns its TOC as JSON data."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("good.txt")
        info.size = len(GOOD)
        tf.addfile(info, io.BytesIO(GOOD))
    raw = buf.getvalue()
    out.mkdir(parents=True)
    (out / f"{NAME}.tar.0000").write_bytes(raw)
    sha = hashlib.sha256(GOOD).hexdigest()
    toc = Toc(name=NAME, mirror="demo", snapshot=SNAP, created="2026-01-08T00:00:00+00:00",
              part_size=len(raw), size=len(raw),
              parts=[PartInfo(name=f"{NAME}.tar.0000", size=len(raw),
                              sha256=hashlib.sha256(raw).hexdigest())],
              files=[FileInfo(path="good.txt", size=len(GOOD), sha256=sha)],
              tree_files=1, tree_sha256=tree_digest([("good.txt", len(GOOD), sha)]))
    (out / f"{NAME}.toc.json").write_bytes(toc.dumps())
    data: dict[str, Any] = json.loads(toc.dumps())
    return data


def _file(**kw: Any) -> Callable[[dict[str, Any]], object]:
    return lambda toc: toc["files"][0].update(kw)


def _part(**kw: Any) -> Callable[[dict[str, Any]], object]:
    return lambda toc: toc["parts"][0].update(kw)


def _top(**kw: Any) -> Callable[[dict[str, Any]], object]:
    return lambda toc: toc.update(kw)


def _dup_file(toc: dict[str, Any]) -> None:
    toc["files"].append(dict(toc["files"][0]))


# (case, change to the TOC data, words the error line must contain)
CASES: list[tuple[str, Callable[[dict[str, Any]], object], tuple[str, ...]]] = [
    ("file-dotdot", _file(path="../escape.txt"), ("files.0.path", "'..'")),
    ("file-absolute", _file(path="/tmp/escape.txt"), ("files.0.path", "absolute")),
    ("file-backslash", _file(path="..\\escape.txt"), ("files.0.path", "backslash")),
    ("file-nul", _file(path="good\0.txt"), ("files.0.path", "NUL")),
    ("file-not-normal", _file(path="a//good.txt"), ("files.0.path", "normal form")),
    ("file-reserved", _file(path=".mirrorkit/manifest.json"), ("files.0.path", "reserved")),
    ("file-path-number", _file(path=7), ("files.0.path",)),
    ("file-sha-short", _file(sha256="abc"), ("files.0.sha256",)),
    ("file-sha-upper", _file(sha256="A" * 64), ("files.0.sha256",)),
    ("file-size-negative", _file(size=-1), ("files.0.size",)),
    ("file-size-string", _file(size="10"), ("files.0.size",)),
    ("file-size-float", _file(size=1e308), ("files.0.size",)),
    ("file-size-huge", _file(size=10**30), ("too large", "size")),
    ("file-size-past-parts", _file(size=10**9), ("cannot fit",)),
    ("file-kind-unknown", _file(kind="device"), ("files.0.kind",)),
    ("file-duplicate", _dup_file, ("listed twice",)),
    ("part-dotdot", _part(name="../../etc/passwd"), ("parts.0.name",)),
    ("part-absolute", _part(name="/etc/passwd"), ("parts.0.name",)),
    ("part-sha-long", _part(sha256="0" * 65), ("parts.0.sha256",)),
    ("part-size-huge", _part(size=10**30), ("size",)),
    ("deleted-dotdot", _top(deleted=["../../victim"]), ("deleted", "'..'")),
    ("deleted-and-listed", _top(deleted=["good.txt"]), ("both a file and deleted",)),
    ("snapshot-traversal", _top(snapshot="../x"), ("snapshot",)),
    ("base-traversal", _top(base="../../x"), ("base",)),
    ("name-traversal", _top(name="../x"), ("name",)),
    ("unknown-key", _top(evil=1), ("evil",)),
    ("wrong-format", _top(format="mirrorkit-bundle/9"), ("not a mirrorkit bundle TOC",)),
    ("parts-not-list", _top(parts={"a": 1}), ("parts",)),
    ("tree-files-negative", _top(tree_files=-1), ("tree_files",)),
    ("part-size-zero", _top(part_size=0), ("part_size",)),
]
RAW_CASES: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("not-json", b'{"format": "mirrorkit-bundle/1", "files": [', ("not JSON",)),
    ("top-level-list", b"[1, 2, 3]", ("not a mirrorkit bundle TOC",)),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, ("toc.json",)),
    ("huge-number", b'{"format": "mirrorkit-bundle/1", "size": 1' + b"0" * 5000 + b"}",
     ("toc.json",)),
]


def _import(tmp_path: Path, toc_bytes: bytes, needles: tuple[str, ...]) -> None:
    out = tmp_path / "media"
    write_bundle(out)
    toc = out / f"{NAME}.toc.json"
    toc.write_bytes(toc_bytes)
    dest = tmp_path / "inside"
    sentinel = Sentinel(tmp_path, dest)
    result = invoke("import", toc, "--into", dest)
    assert_clear_error(result, 1, *needles)
    assert not dest.exists()
    sentinel.assert_untouched()


def test_the_unaltered_bundle_imports(tmp_path: Path) -> None:
    write_bundle(tmp_path / "media")
    result = invoke("import", tmp_path / "media" / f"{NAME}.toc.json", "--into",
                    tmp_path / "inside")
    assert result.code == 0, result.stderr
    assert (tmp_path / "inside" / "good.txt").read_bytes() == GOOD


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_hostile_toc_field_is_refused(tmp_path: Path, case: str) -> None:
    _, change, needles = next(c for c in CASES if c[0] == case)
    data = write_bundle(tmp_path / "scratch")
    change(data)
    _import(tmp_path, json.dumps(data).encode(), needles)


@pytest.mark.parametrize("case", [c[0] for c in RAW_CASES])
def test_hostile_toc_text_is_refused(tmp_path: Path, case: str) -> None:
    _, raw, needles = next(c for c in RAW_CASES if c[0] == case)
    _import(tmp_path, raw, needles)
