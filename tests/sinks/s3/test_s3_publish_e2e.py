"""The s3 sink end to end: mirrorkit run, then mirrorkit publish/verify against moto over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from s3log import Event, LoggedS3

from tests.support.cli import run_cli
from tests.support.static_list import publish, run_args
from tests.support.upstream import Upstream

MIB = 1024 * 1024


def mirror(upstream: Upstream, dest: Path, files: dict[str, bytes]) -> None:
    publish(upstream, files)
    res = run_cli(*run_args(upstream, dest))
    assert res.code == 0, res.stderr


def files_v1() -> dict[str, bytes]:
    files = {f"pool/pkg{i}.bin": os.urandom(3000 + i) for i in range(6)}
    files["pool/big.bin"] = os.urandom(6 * MIB + 123)  # above a 5 MiB part size: multipart
    files["bottles/hello-1.0.arm64_sonoma.bottle.tar.gz"] = os.urandom(2000)
    files["api/formula.json"] = b'{"formulae": []}'
    return files


def s3_publish(s3: LoggedS3, dest: Path, target: str, *extra: str) -> Any:
    res = run_cli("publish", dest, target, "--part-size", "5MiB", "--json", *extra, env=s3.env())
    assert res.code == 0, res.stderr
    return res.json


def body(s3: LoggedS3, bucket: str, key: str) -> bytes:
    data: bytes = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def keys(s3: LoggedS3, bucket: str) -> set[str]:
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_first_publish_uploads_every_file_with_digest_and_type(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path
) -> None:
    files = files_v1()
    dest = tmp_path / "mirror"
    mirror(upstream, dest, files)

    out = s3_publish(s3_logged, dest, f"s3://{bucket}/brew/")
    assert out["status"] == "ok"
    assert out["uploaded"] == len(files) + 1  # + the index
    assert out["deleted"] == 0

    client = s3_logged.client()
    assert keys(s3_logged, bucket) == {f"brew/{p}" for p in files} | {
        "brew/index.json", "brew/.mirrorkit/published.json"}
    for path, data in files.items():
        assert body(s3_logged, bucket, f"brew/{path}") == data
        head = client.head_object(Bucket=bucket, Key=f"brew/{path}")
        assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    types = {p: client.head_object(Bucket=bucket, Key=f"brew/{p}")["ContentType"]
             for p in ("index.json", "api/formula.json", "pool/pkg0.bin",
                       "bottles/hello-1.0.arm64_sonoma.bottle.tar.gz")}
    assert types == {"index.json": "application/json", "api/formula.json": "application/json",
                     "pool/pkg0.bin": "application/octet-stream",
                     "bottles/hello-1.0.arm64_sonoma.bottle.tar.gz": "application/gzip"}
    index_head = client.head_object(Bucket=bucket, Key="brew/index.json")
    assert index_head.get("CacheControl") == "no-cache"
    # the 6 MiB file went up in parts (S3 marks multipart ETags with -<parts>)
    assert client.head_object(Bucket=bucket, Key="brew/pool/big.bin")["ETag"].endswith('-2"')
    assert any(e.query == "uploads" and e.method == "POST"
               for e in s3_logged.requests(bucket))

    state = json.loads(body(s3_logged, bucket, "brew/.mirrorkit/published.json"))
    local = json.loads((dest / ".mirrorkit" / "manifest.json").read_bytes())
    assert state["snapshot"] == local["snapshot"]
    assert {p: e["sha256"] for p, e in state["files"].items()} == {
        p: e["sha256"] for p, e in local["files"].items()}

    verify = run_cli("verify", f"s3://{bucket}/brew", "--json", env=s3_logged.env())
    assert verify.code == 0, verify.stderr
    assert verify.json["ok"] is True
    assert verify.json["checked"] == len(files) + 1


def test_republish_with_nothing_changed_makes_no_put(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    mirror(upstream, dest, files_v1())
    s3_publish(s3_logged, dest, f"s3://{bucket}/m")
    # a new run with nothing new upstream, then a second publish
    res = run_cli(*run_args(upstream, dest))
    assert res.code == 0, res.stderr
    s3_logged.clear()

    out = s3_publish(s3_logged, dest, f"s3://{bucket}/m")
    assert (out["uploaded"], out["deleted"], out["unchanged"]) == (0, 0, len(files_v1()) + 1)
    seen = s3_logged.requests(bucket)
    assert seen, "the publish read the published state"
    assert [e for e in seen if e.method == "PUT"] == []
    assert {e.method for e in seen} <= {"GET", "HEAD"}
    # and no listing of the bucket either: what changed comes from the manifests
    assert not [e for e in seen if "list-type" in e.query or e.key in ("", "m", "m/")]


def test_update_writes_indexes_after_blobs_and_deletes_stale_keys_last(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    v1 = files_v1()
    mirror(upstream, dest, v1)
    s3_publish(s3_logged, dest, f"s3://{bucket}/m")

    v2 = dict(v1)
    removed = ["pool/pkg0.bin", "pool/pkg1.bin"]
    for path in removed:
        del v2[path]
    v2["pool/pkg2.bin"] = os.urandom(5000)  # changed
    added = {f"pool/new{i}.bin": os.urandom(4000 + i) for i in range(8)}
    added["pool/newbig.bin"] = os.urandom(6 * MIB)  # multipart, the slowest blob
    v2.update(added)
    for path in removed:
        upstream.remove(f"/repo/files/{path}")
    mirror(upstream, dest, v2)
    s3_logged.clear()

    out = s3_publish(s3_logged, dest, f"s3://{bucket}/m")
    assert out["uploaded"] == len(added) + 2  # the new blobs, the changed one, the index
    assert out["deleted"] == len(removed)

    state_key = "m/.mirrorkit/published.json"
    lock_key = "m/.mirrorkit/lock"

    def is_index(e: Event) -> bool:
        return e.key == "m/index.json"

    def is_blob(e: Event) -> bool:
        return e.method in ("PUT", "POST") and e.key not in ("m/index.json", state_key,
                                                             lock_key) \
            and e.query != "delete"

    blob_spans = s3_logged.spans(bucket, is_blob)
    index_spans = s3_logged.spans(bucket, is_index)
    delete_spans = s3_logged.spans(bucket, lambda e: e.method == "POST" and e.query == "delete")
    state_spans = s3_logged.spans(bucket, lambda e: e.key == state_key)
    written = {e.key for e in s3_logged.writes(bucket) if is_blob(e)}
    assert written == {f"m/{p}" for p in [*added, "pool/pkg2.bin"]}  # unchanged files skipped
    assert index_spans and delete_spans and state_spans
    last_blob_end = max(end for _, end in blob_spans)
    assert last_blob_end < min(start for start, _ in index_spans)
    assert max(end for _, end in index_spans) < min(start for start, _ in delete_spans)
    assert max(end for _, end in delete_spans) < min(start for start, _ in state_spans)
    # the publish held the target's lock around every write, and released it last
    lock_spans = s3_logged.spans(bucket, lambda e: e.key == lock_key)
    first_write = min(start for start, _ in [*blob_spans, *index_spans, *delete_spans])
    assert lock_spans[0][1] < first_write
    assert state_spans[-1][1] < lock_spans[-1][0]
    assert lock_spans[-1][1] == max(e.seq for e in s3_logged.events if e.bucket == bucket)
    assert lock_key not in keys(s3_logged, bucket)

    present = keys(s3_logged, bucket)
    for path in removed:
        assert f"m/{path}" not in present
    for path, data in v2.items():
        assert body(s3_logged, bucket, f"m/{path}") == data
    index = json.loads(body(s3_logged, bucket, "m/index.json"))
    assert {e["path"] for e in index} == set(v2)

    verify = run_cli("verify", f"s3://{bucket}/m", env=s3_logged.env())
    assert verify.code == 0, verify.stderr


def test_verify_catches_deleted_and_replaced_objects(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    files = files_v1()
    mirror(upstream, dest, files)
    s3_publish(s3_logged, dest, f"s3://{bucket}/m")
    client = s3_logged.client()
    client.delete_object(Bucket=bucket, Key="m/pool/pkg0.bin")
    # replaced by a plain upload: different bytes, no stored digest
    client.put_object(Bucket=bucket, Key="m/pool/pkg1.bin", Body=b"something else")
    # replaced by someone careful: same size, the old digest copied into the metadata
    old = files["pool/pkg2.bin"]
    client.put_object(Bucket=bucket, Key="m/pool/pkg2.bin", Body=bytes(len(old)),
                      Metadata={"sha256": hashlib.sha256(old).hexdigest()})

    quick = run_cli("verify", f"s3://{bucket}/m", "--quick", "--json", env=s3_logged.env())
    assert quick.code == 1
    assert quick.json["missing"] == ["pool/pkg0.bin"]
    assert quick.json["corrupt"] == ["pool/pkg1.bin"]
    assert "missing: pool/pkg0.bin" in quick.stderr

    full = run_cli("verify", f"s3://{bucket}/m", env=s3_logged.env())
    assert full.code == 1
    assert "mirrorkit: missing: pool/pkg0.bin" in full.stderr
    assert "mirrorkit: corrupt: pool/pkg1.bin" in full.stderr
    assert "mirrorkit: corrupt: pool/pkg2.bin" in full.stderr
    assert "FAILED" in full.stderr

    # publishing with --force repairs the copy
    s3_publish(s3_logged, dest, f"s3://{bucket}/m", "--force")
    assert run_cli("verify", f"s3://{bucket}/m", env=s3_logged.env()).code == 0


def test_corrupted_local_file_is_not_published_and_indexes_stay_old(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    v1 = {"a.bin": os.urandom(1000)}
    mirror(upstream, dest, v1)
    s3_publish(s3_logged, dest, f"s3://{bucket}/m")
    old_index = body(s3_logged, bucket, "m/index.json")
    mirror(upstream, dest, {**v1, "b.bin": os.urandom(1000)})
    data = bytearray((dest / "b.bin").read_bytes())
    data[0] ^= 0xFF
    (dest / "b.bin").write_bytes(bytes(data))  # bit rot between the run and the publish

    res = run_cli("publish", dest, f"s3://{bucket}/m", env=s3_logged.env())
    assert res.code == 1
    assert "b.bin: the mirror's copy does not match its sha256" in res.stderr
    assert "m/b.bin" not in keys(s3_logged, bucket)
    assert body(s3_logged, bucket, "m/index.json") == old_index


def test_sink_in_config_publishes_after_the_run(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path
) -> None:
    files = {"x/one.bin": os.urandom(100), "x/two.bin": os.urandom(200)}
    publish(upstream, files)
    config = tmp_path / "mirrors.toml"
    config.write_text(f"""
[[mirrors]]
name = "demo"
registry = "static-list"
dest = "mirror"
index_url = "{upstream.url}/repo/index.json"

[[mirrors.sinks]]
type = "s3"
target = "s3://{bucket}/demo"
concurrency = 4
""")
    res = run_cli("run", "--config", config, "--json", env=s3_logged.env())
    assert res.code == 0, res.stderr
    assert res.json["sinks"]["0:s3"].startswith(f"ok: s3://{bucket}/demo: uploaded 3 files")
    assert body(s3_logged, bucket, "demo/x/two.bin") == files["x/two.bin"]

    config.write_text(config.read_text().replace(bucket, "no-such-bucket-here"))
    res = run_cli("run", "--config", config, "--json", env=s3_logged.env())
    assert res.code == 1
    assert res.json["status"] == "failed"
    assert res.json["sinks"]["0:s3"].startswith("failed: ")
    assert "NoSuchBucket" in res.json["sinks"]["0:s3"]


@pytest.mark.parametrize(("args", "message"), [
    (("http://bucket/x",), "TARGET: "),
    (("s3://Bad_Bucket/x",), "is not a valid bucket name"),
    (("s3://good-bucket/a/../b",), "must not contain"),
    (("s3://good-bucket/x", "--part-size", "1MiB"), "--part-size: "),
])
def test_bad_publish_arguments_are_one_line(tmp_path: Path, args: tuple[str, ...],
                                            message: str) -> None:
    res = run_cli("publish", tmp_path, *args)
    assert res.code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mirrorkit: error: ")
    assert message in lines[0]


def test_publish_refuses_a_directory_that_is_not_a_mirror(
    s3_logged: LoggedS3, bucket: str, tmp_path: Path
) -> None:
    res = run_cli("publish", tmp_path, f"s3://{bucket}/m", env=s3_logged.env())
    assert res.code == 1
    assert "no mirrorkit manifest" in res.stderr
    assert not (tmp_path / ".mirrorkit").exists()
    assert keys(s3_logged, bucket) == set()


def test_verify_of_an_empty_prefix_says_nothing_was_published(
    s3_logged: LoggedS3, bucket: str
) -> None:
    res = run_cli("verify", f"s3://{bucket}/nothing", env=s3_logged.env())
    assert res.code == 1
    assert "nothing published here" in res.stderr


def test_publish_refuses_a_prefix_holding_another_mirror(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path
) -> None:
    publish(upstream, {"a.bin": b"a" * 10})
    for name in ("one", "two"):
        res = run_cli(*run_args(upstream, tmp_path / name, "--name", name))
        assert res.code == 0, res.stderr
    s3_publish(s3_logged, tmp_path / "one", f"s3://{bucket}/shared")
    before = keys(s3_logged, bucket)
    res = run_cli("publish", tmp_path / "two", f"s3://{bucket}/shared", env=s3_logged.env())
    assert res.code == 1
    assert "holds the mirror 'one', not 'two'" in res.stderr
    assert keys(s3_logged, bucket) == before
    out = s3_publish(s3_logged, tmp_path / "two", f"s3://{bucket}/shared", "--force")
    assert out["uploaded"] == 2
    state = json.loads(body(s3_logged, bucket, "shared/.mirrorkit/published.json"))
    assert state["mirror"] == "two"
