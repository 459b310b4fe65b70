"""Bundles on S3 (moto in server mode over HTTP): round trip, deltas, resume after a kill."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from bundle_helpers import S3Proxy, make_mirror, random_files, tree

from tests.support.cli import run_cli, start_cli

SNAP_A, SNAP_B = "20260101T000000Z-aaaaaa", "20260108T000000Z-bbbbbb"
MiB = 1024 * 1024


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> Iterator[tuple[str, object]]:
    client = boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL_S3"])
    name = f"bundles-{id(client) % 100000}"
    client.create_bucket(Bucket=name)
    yield name, client


@pytest.fixture
def proxy(s3_env: dict[str, str]) -> Iterator[S3Proxy]:
    p = S3Proxy(s3_env["AWS_ENDPOINT_URL_S3"]).start()
    yield p
    p.stop()


def _via(proxy: S3Proxy) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL_S3": proxy.endpoint, "AWS_ENDPOINT_URL": proxy.endpoint}


def test_full_and_delta_through_s3(bucket: tuple[str, object], proxy: S3Proxy,
                                   tmp_path: Path) -> None:
    name, client = bucket
    src, inside = tmp_path / "src", tmp_path / "inside"
    files = random_files(10, 2 * MiB)  # ~20 MB: parts of 9 MiB are multipart uploads
    make_mirror(src, files, snapshot=SNAP_A, index=("blobs/000.bin",))
    url = f"s3://{name}/weekly"
    r = run_cli("export", src, "--to", url, "--part-size", "9MiB", "--json", env=_via(proxy))
    assert r.code == 0, r.stderr
    toc = r.json
    assert [p["size"] for p in toc["parts"][:2]] == [9 * MiB, 9 * MiB]
    # each 9 MiB part went up as a multipart upload (8 MiB + 1 MiB) with SHA-256 checksums
    assert len([q for q in proxy.uploads_of(".tar.0000") if "partNumber" in q[2]]) == 2
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]}  # type: ignore[attr-defined]
    assert f"weekly/{toc['name']}.toc.json" in keys
    assert not any(k.endswith(".partial.json") for k in keys)
    head = client.head_object(Bucket=name, Key=f"weekly/{toc['parts'][0]['name']}",  # type: ignore[attr-defined]
                              ChecksumMode="ENABLED")
    assert head["ContentLength"] == 9 * MiB and head.get("ChecksumSHA256")

    listing = run_cli("bundles", url, "--json")
    assert listing.code == 0 and listing.json["order"]["demo"] == [toc["name"]]
    assert run_cli("import", "--check", url).code == 0
    r = run_cli("import", url, "--into", inside)
    assert r.code == 0, r.stderr
    assert tree(inside) == tree(src)
    assert run_cli("verify", inside).code == 0

    files["blobs/004.bin"] = b"v2"
    del files["blobs/009.bin"]
    make_mirror(src, files, snapshot=SNAP_B, index=("blobs/000.bin",))
    r = run_cli("export", src, "--to", url, "--json")
    assert r.code == 0, r.stderr
    assert r.json["base"] == SNAP_A and [f["path"] for f in r.json["files"]] == ["blobs/004.bin"]
    assert r.json["deleted"] == ["blobs/009.bin"]
    r = run_cli("import", f"{url}/{r.json['name']}.toc.json", "--into", inside)
    assert r.code == 0, r.stderr
    assert tree(inside) == tree(src)


def test_killed_s3_export_resumes_without_reuploading_finished_parts(
        bucket: tuple[str, object], proxy: S3Proxy, tmp_path: Path) -> None:
    name, client = bucket
    src = tmp_path / "src"
    make_mirror(src, random_files(5, 2 * MiB), snapshot=SNAP_A)
    url = f"s3://{name}/resume"
    args = ["export", src, "--to", url, "--part-size", "3MiB"]

    proxy.hold_substring = ".tar.0002"  # the third part never gets an answer...
    proc = start_cli(*args, env=_via(proxy))
    try:
        assert proxy.held.wait(60), "the export never reached the third part"
        proc.send_signal(signal.SIGKILL)  # ...and the export is killed while waiting
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    proxy.hold_substring = None
    proxy.release.set()
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]}  # type: ignore[attr-defined]
    assert not any(k.endswith(".toc.json") for k in keys)  # no TOC: not a bundle yet

    proxy.log.clear()
    r = run_cli(*args, env=_via(proxy))
    assert r.code == 0, r.stderr
    assert proxy.uploads_of(".tar.0000") == [] and proxy.uploads_of(".tar.0001") == []
    # the held part is sent again; part 3 is written beside it (parts are written in
    # parallel), so it was either finished before the kill or is sent now
    assert proxy.uploads_of(".tar.0002")
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []  # type: ignore[attr-defined]

    inside = tmp_path / "inside"
    r = run_cli("import", url, "--into", inside)
    assert r.code == 0, r.stderr
    assert tree(inside) == tree(src)


def test_corrupt_s3_part_is_refused(bucket: tuple[str, object], tmp_path: Path) -> None:
    name, client = bucket
    src = tmp_path / "src"
    make_mirror(src, random_files(3, 5000), snapshot=SNAP_A)
    url = f"s3://{name}/bad"
    r = run_cli("export", src, "--to", url, "--part-size", "4KiB", "--json")
    assert r.code == 0, r.stderr
    part = r.json["parts"][1]["name"]
    client.put_object(Bucket=name, Key=f"bad/{part}", Body=b"\0" * 4096)  # type: ignore[attr-defined]
    r = run_cli("import", url, "--into", tmp_path / "inside")
    assert r.code == 1 and f"{part}: corrupt" in r.stderr
    assert not (tmp_path / "inside").exists()
