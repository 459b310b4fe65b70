"""Small pure parts of the s3 sink: targets, content types, the publish plan's order."""

from __future__ import annotations

import pytest

from mirrorkit.core.artifact import Kind
from mirrorkit.core.manifest import FileEntry, Manifest
from mirrorkit.sinks.s3.content_type import content_type
from mirrorkit.sinks.s3.plan import make_plan
from mirrorkit.sinks.s3.target import S3Target, TargetError

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


def test_plan_uploads_changes_only_and_orders_index_waves() -> None:
    new = manifest({
        "same.bin": FileEntry(1, SHA_A),
        "changed.bin": FileEntry(2, SHA_B),
        "new.bin": FileEntry(3, SHA_A),
        "api.json": FileEntry(1, SHA_B, Kind.INDEX),
        "m/1.0": FileEntry(1, SHA_A, Kind.INDEX),
    })
    old = manifest({"same.bin": FileEntry(1, SHA_A), "changed.bin": FileEntry(2, SHA_A),
                    "gone.bin": FileEntry(1, SHA_A)}, snapshot="s1")
    plan = make_plan(new, old)
    assert plan.blobs == ["changed.bin", "new.bin"]
    assert plan.index_waves == [["api.json", "m/1.0"]]
    assert plan.deletes == ["gone.bin"]
    assert plan.unchanged == 1
    assert plan.state_changed
    same = make_plan(new, manifest(dict(new.files)))
    assert same.nothing_to_do
    forced = make_plan(new, manifest(dict(new.files)), force=True)
    assert forced.uploads == 5 and not forced.deletes
