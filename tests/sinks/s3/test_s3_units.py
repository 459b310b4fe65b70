"""Small pure parts of S3 publishing: targets, content types, the changeset's order."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorkit.core.plan.artifact import Kind
from mirrorkit.core.store import Put, build_changeset, diff_files
from mirrorkit.core.store.manifest import FileEntry, Manifest
from mirrorkit.core.store.s3.content_type import content_type
from mirrorkit.core.store.s3.target import S3Target, TargetError

SHA_A, SHA_B = "a" * 64, "b" * 64


def test_targets_map_paths_to_keys() -> None:
    t = S3Target.parse("s3://my-bucket/some/prefix/")
    assert (t.bucket, t.prefix, str(t)) == ("my-bucket", "some/prefix", "s3://my-bucket/some/prefix")
    assert t.key("v2/x") == "some/prefix/v2/x"
    assert t.state_key == "some/prefix/.mirrorkit/published.json"
    assert S3Target.parse("s3://my-bucket").key("x") == "x"
    for bad in ("my-bucket/x", "s3://UPPER/x", "s3://b/x/../y", "s3://ok-bucket/a//b"):
        with pytest.raises(TargetError):
            S3Target.parse(bad)


@pytest.mark.parametrize(("path", "expected"), [
    ("api/formula.jws.json", "application/json"),
    ("hello--1.0.arm64_sonoma.bottle.tar.gz", "application/gzip"),
    ("v2/homebrew/core/hello/blobs/sha256:abc", "application/octet-stream"),
    ("v2/homebrew/core/hello/manifests/1.0", "application/octet-stream"),
    ("objects/pack/pack-1.pack", "application/x-git-packed-objects"),
    ("README.TXT", "text/plain; charset=utf-8"),
])
def test_content_types(path: str, expected: str) -> None:
    assert content_type(path) == expected


def test_content_type_overrides_win_by_longest_suffix() -> None:
    overrides = {"/manifests/1.0": "application/vnd.oci.image.index.v1+json"}
    assert content_type("x/manifests/1.0", {"1.0": "text/x", **overrides}) == "text/x"
    assert content_type("a.tar.gz", {".tar.gz": "application/x-gtar"}) == "application/x-gtar"


def manifest(files: dict[str, FileEntry], snapshot: str = "s2") -> Manifest:
    return Manifest(mirror="m", snapshot=snapshot, files=files)


def test_changeset_uploads_changes_only_and_orders_index_waves(tmp_path: Path) -> None:
    new = manifest({
        "same.bin": FileEntry(1, SHA_A),
        "changed.bin": FileEntry(2, SHA_B),
        "new.bin": FileEntry(3, SHA_A),
        "api.json": FileEntry(1, SHA_B, Kind.INDEX, order=1),
        "m/1.0": FileEntry(1, SHA_A, Kind.INDEX),
        "m/2.0": FileEntry(1, SHA_A, Kind.INDEX),
    })
    old = manifest({"same.bin": FileEntry(1, SHA_A), "changed.bin": FileEntry(2, SHA_A),
                    "gone.bin": FileEntry(1, SHA_A)}, snapshot="s1")
    changed, deleted = diff_files(new.files, old.files)
    assert deleted == ["gone.bin"]
    assert len(new.files) - len(changed) == 1
    changes = build_changeset(old.files, new,
                              [Put(p, new.files[p], tmp_path / p) for p in changed], where="t")
    assert [p.path for p in changes.blobs] == ["changed.bin", "new.bin"]
    assert [[p.path for p in w] for w in changes.index_waves] == [["m/1.0", "m/2.0"],
                                                                  ["api.json"]]
    assert changes.deletes == ["gone.bin"] and changes.clear_first == []
    assert diff_files(new.files, dict(new.files)) == ([], [])
    assert len(diff_files(new.files, dict(new.files), force=True)[0]) == 6
