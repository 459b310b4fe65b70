"""Property-based tests (hypothesis) of the two gates hostile names pass: paths and TOCs.

``validate_relpath`` is compared with a reference written out from its documented rules
(so an optimisation that changes what is accepted fails here), and whatever it accepts must
stay inside the root. ``Toc.loads`` is fed arbitrary bytes and mutated valid TOCs: it
raises ``TocError`` or returns a TOC whose every name is safe, never anything else.
Examples per property: 200 in CI, 2000 with MIRRORKIT_RELIABILITY=full.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrorkit.core.bundle.targets import DirTarget
from mirrorkit.core.bundle.toc import FileInfo, PartInfo, Toc, TocError, part_name, tree_digest
from mirrorkit.core.bundle.tocread import read_summary
from mirrorkit.core.plan.paths import UnsafePathError, safe_join, validate_relpath
from tests.reliability.mode import current_mode

EXAMPLES = settings(max_examples=current_mode().hostile_examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

PIECES = ["..", ".", "", "a", "b.c", "\\", "\0", "\n", "\x7f", ".mirrorkit", "x" * 256,
          "é" * 130, "sha256:ab", " ", "~", "%2e%2e", "\u202e", "\ud800"]
hostile_paths = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(PIECES) | st.text(max_size=5), max_size=8).map("/".join),
    st.lists(st.sampled_from(PIECES), max_size=6).map(lambda p: "/" + "/".join(p)),
)


def reference_accepts(path: str) -> bool:
    """The rules of mirrorkit.core.plan.paths, written out plainly."""
    if not path or "\0" in path or "\\" in path or path.startswith("/"):
        return False
    if any(ord(c) < 0x20 for c in path):
        return False
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return False
    if len(path.encode("utf-8", "surrogatepass")) > 4096:
        return False
    if any(len(p.encode("utf-8", "surrogatepass")) > 255 for p in parts):
        return False
    return parts[0] != ".mirrorkit"


@EXAMPLES
@given(hostile_paths)
def test_validate_relpath_matches_its_rules_and_stays_inside(path: str) -> None:
    try:
        norm = validate_relpath(path)
    except UnsafePathError:
        assert not reference_accepts(path), path
        return
    assert reference_accepts(path), path
    joined = posixpath.normpath(posixpath.join("/srv/mirror", norm))
    assert joined.startswith("/srv/mirror/")
    assert norm == posixpath.normpath(norm) and not norm.startswith("/")
    assert ".." not in norm.split("/") and "\\" not in norm and "\0" not in norm
    assert validate_relpath(norm) == norm
    assert safe_join("/srv/mirror", path) == "/srv/mirror/" + norm


# ------------------------------------------------------------------------------ TOCs
SNAP = "20260108T000000Z-bbbbbb"
NAME = f"demo-{SNAP}-full"
safe_names = st.lists(st.text("abcxyz019._-", min_size=1, max_size=8)
                      .filter(lambda s: s not in (".", "..")), min_size=1, max_size=3
                      ).map("/".join).filter(lambda p: not p.startswith(".mirrorkit"))


def _toc(paths: list[str]) -> dict[str, Any]:
    files = [FileInfo(path=p, size=i, sha256=hashlib.sha256(p.encode()).hexdigest())
             for i, p in enumerate(paths)]
    toc = Toc(name=NAME, mirror="demo", snapshot=SNAP, created="2026-01-08T00:00:00+00:00",
              part_size=1 << 20, size=1 << 20,
              parts=[PartInfo(name=part_name(NAME, 0), size=1 << 20, sha256="0" * 64)],
              files=files, tree_files=len(files),
              tree_sha256=tree_digest((f.path, f.size, f.sha256) for f in files))
    data: dict[str, Any] = json.loads(toc.dumps())
    return data


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | hostile_paths,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=10,
)


def _assert_safe(toc: Toc) -> None:
    for f in toc.files:
        assert validate_relpath(f.path) == f.path
    for d in toc.deleted:
        validate_relpath(d)
    for p in toc.parts:
        assert "/" not in p.name and "\\" not in p.name and not p.name.startswith(".")
    assert len({f.path for f in toc.files}) == len(toc.files)


@EXAMPLES
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_toc_loads_refuses_garbage_with_toc_error_only(raw: bytes) -> None:
    try:
        toc = Toc.loads(raw, where="x.toc.json")
    except TocError as exc:
        assert str(exc).startswith("x.toc.json: ")
        return
    _assert_safe(toc)


@EXAMPLES
@given(st.lists(safe_names, min_size=1, max_size=4, unique=True), st.data())
def test_mutated_toc_is_refused_or_safe(paths: list[str], data: st.DataObject) -> None:
    doc = _toc(paths)
    assert Toc.loads(json.dumps(doc).encode(), where="t").files  # the unmutated one is fine
    target = data.draw(st.sampled_from(["top", "file", "part"]))
    holder: dict[str, Any]
    if target == "top":
        holder = doc
    elif target == "file":
        holder = doc["files"][data.draw(st.integers(0, len(doc["files"]) - 1))]
    else:
        holder = doc["parts"][0]
    key = data.draw(st.sampled_from(sorted(holder)) | st.text(max_size=6))
    holder[key] = data.draw(json_values)
    try:
        toc = Toc.loads(json.dumps(doc).encode(), where="t.toc.json")
    except TocError as exc:
        assert str(exc).startswith("t.toc.json: ") and "\n" not in str(exc)
        return
    _assert_safe(toc)


@EXAMPLES
@given(st.lists(safe_names, min_size=1, max_size=6, unique=True))
def test_toc_round_trips(paths: list[str]) -> None:
    doc = _toc(paths)
    toc = Toc.loads(json.dumps(doc).encode(), where="t")
    assert Toc.loads(toc.dumps(), where="t") == toc
    assert [f.path for f in toc.files] == paths


def _agree(raw: bytes, tmp: Path) -> None:
    """The streaming summary (bundles, import --check) accepts exactly what Toc.loads does."""
    (tmp / "t.toc.json").write_bytes(raw)
    try:
        full: Toc | None = Toc.loads(raw, where="t.toc.json")
    except TocError:
        full = None
    try:
        summary = read_summary(DirTarget(tmp), "t.toc.json", 1 << 20, where="t.toc.json")
    except TocError as exc:
        assert full is None, f"summary refused a TOC the loader accepts: {exc}"
        assert str(exc).startswith("t.toc.json: ") and "\n" not in str(exc)
        return
    assert full is not None, f"summary accepted a TOC the loader refuses: {raw[:300]!r}"
    assert (summary.file_count, summary.deleted_count, summary.parts) == (
        len(full.files), len(full.deleted), full.parts)


@EXAMPLES
@given(st.lists(safe_names, min_size=1, max_size=4, unique=True), st.data())
def test_streaming_summary_agrees_with_the_loader(paths: list[str], data: st.DataObject
                                                  ) -> None:
    doc = _toc(paths)
    target = data.draw(st.sampled_from(["top", "file", "part", "none"]))
    if target != "none":
        holder: dict[str, Any] = (doc if target == "top" else doc["parts"][0]
                                  if target == "part" else doc["files"][0])
        key = data.draw(st.sampled_from(sorted(holder)) | st.text(max_size=6))
        holder[key] = data.draw(json_values)
    with tempfile.TemporaryDirectory() as tmp:
        _agree(json.dumps(doc).encode(), Path(tmp))


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\udbff"])
def test_a_lone_surrogate_is_refused_by_the_loader_and_the_summary(
        text: str, tmp_path: Path) -> None:
    """The record-by-record reader's C parser turns a lone surrogate escape into '?' where
    the whole-TOC loader refuses it: both must refuse (found by the property above)."""
    doc = _toc(["a"])
    doc["created"] = text
    _agree(json.dumps(doc).encode(), tmp_path)
    with pytest.raises(TocError):
        read_summary(DirTarget(tmp_path), "t.toc.json", 1 << 20, where="t.toc.json")
