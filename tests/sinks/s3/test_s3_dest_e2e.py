"""``dest = "s3://bucket/prefix"``: a run mirrors straight into a bucket (moto over HTTP)."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from s3log import Event, LoggedS3

from tests.support.cli import run_cli
from tests.support.static_list import publish, run_args
from tests.support.upstream import Upstream

MIB = 1024 * 1024


def s3_dest(url: str) -> Any:
    """The dest as the command line gets it (a Path would fold the ``//``)."""
    return url


def read_over_http(s3: LoggedS3, bucket: str, key: str) -> bytes:
    """What a plain HTTP client reading the bucket gets (no SDK, no credentials)."""
    with urllib.request.urlopen(f"{s3.endpoint}/{bucket}/{key}", timeout=10) as resp:
        data: bytes = resp.read()
    return data


def allow_anonymous_reads(s3: LoggedS3, bucket: str) -> None:
    """The bucket policy an operator sets to serve the mirror to plain HTTP clients."""
    s3.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*"}]}))


def assert_served_tree(s3: LoggedS3, bucket: str, prefix: str,
                       files: dict[str, bytes]) -> None:
    index = json.loads(read_over_http(s3, bucket, f"{prefix}/index.json"))
    assert sorted(e["path"] for e in index) == sorted(files)
    for entry in index:
        data = read_over_http(s3, bucket, f"{prefix}/{entry['path']}")
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] == hashlib.sha256(
            files[entry["path"]]).hexdigest()


def index_after_blobs(s3: LoggedS3, bucket: str, index_key: str) -> None:
    state_key = index_key.rsplit("/", 1)[0] + "/.mirrorkit/published.json"
    lock_key = index_key.rsplit("/", 1)[0] + "/.mirrorkit/lock"
    blob_ends = [end for _, end in s3.spans(
        bucket, lambda e: e.method in ("PUT", "POST")
        and e.key not in (index_key, state_key, lock_key))]
    index_spans = s3.spans(bucket, lambda e: e.key == index_key and e.method == "PUT")
    state_spans = s3.spans(bucket, lambda e: e.key == state_key and e.method == "PUT")
    assert blob_ends and len(index_spans) == 1 and len(state_spans) == 1
    assert max(blob_ends) < index_spans[0][0] < index_spans[0][1] < state_spans[0][0]


def test_run_into_a_bucket_serves_a_readable_tree_with_indexes_after_blobs(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path
) -> None:
    files = {f"pool/pkg{i}.bin": os.urandom(3000 + i) for i in range(8)}
    files["pool/big.bin"] = os.urandom(3 * MIB)
    publish(upstream, files)
    allow_anonymous_reads(s3_logged, bucket)
    before = sorted(p.name for p in tmp_path.iterdir())
    res = run_cli(*run_args(upstream, s3_dest(f"s3://{bucket}/mirror"), "--json"),
                  env=s3_logged.env(), cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert res.json["status"] == "ok" and res.json["dest"] == f"s3://{bucket}/mirror"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no local tree, not even in cwd
    assert_served_tree(s3_logged, bucket, "mirror", files)
    index_after_blobs(s3_logged, bucket, "mirror/index.json")
    state = json.loads(read_over_http(s3_logged, bucket, "mirror/.mirrorkit/published.json"))
    assert state["snapshot"] == res.json["snapshot"] and len(state["files"]) == len(files) + 1
    verify = run_cli("verify", f"s3://{bucket}/mirror", "--json", env=s3_logged.env())
    assert verify.code == 0, verify.stderr
    assert verify.json["checked"] == len(files) + 1


def test_second_run_uploads_only_changes_and_deletes_after_the_index(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str
) -> None:
    dest = s3_dest(f"s3://{bucket}/m")
    v1 = {f"pool/pkg{i}.bin": os.urandom(2000 + i) for i in range(6)}
    publish(upstream, v1)
    allow_anonymous_reads(s3_logged, bucket)
    assert run_cli(*run_args(upstream, dest), env=s3_logged.env()).code == 0

    s3_logged.clear()
    same = run_cli(*run_args(upstream, dest, "--json"), env=s3_logged.env())
    assert same.code == 0, same.stderr
    assert (same.json["downloaded"], same.json["removed"]) == (0, 0)
    puts = [e for e in s3_logged.writes(bucket) if not e.key.endswith(".mirrorkit/lock")]
    assert puts == []  # nothing changed: no object written, not even the state

    v2 = {p: b for p, b in v1.items() if p != "pool/pkg0.bin"}
    v2["pool/pkg1.bin"] = os.urandom(2500)
    v2["pool/new.bin"] = os.urandom(100)
    upstream.remove("/repo/files/pool/pkg0.bin")
    publish(upstream, v2)
    s3_logged.clear()
    res = run_cli(*run_args(upstream, dest, "--json"), env=s3_logged.env())
    assert res.code == 0, res.stderr
    assert (res.json["downloaded"], res.json["removed"]) == (3, 1)  # 2 blobs + the index
    assert_served_tree(s3_logged, bucket, "m", v2)
    written = {e.key for e in s3_logged.writes(bucket) if e.method == "PUT"}
    # the plan record of the new snapshot is state, stored before the state object names it
    state = [k for k in written if k.startswith("m/.mirrorkit/state/")]
    assert len(state) == 1
    assert written - set(state) == {"m/pool/pkg1.bin", "m/pool/new.bin", "m/index.json",
                                    "m/.mirrorkit/published.json", "m/.mirrorkit/lock"}
    seq = {e.key: e.seq for e in s3_logged.writes(bucket) if e.method == "PUT"}
    assert seq[state[0]] < seq["m/.mirrorkit/published.json"]
    deletes: list[Event] = [e for e in s3_logged.writes(bucket)
                            if e.method == "POST" and "delete" in e.query]
    index_put = next(e for e in s3_logged.writes(bucket) if e.key == "m/index.json")
    assert deletes and all(d.seq > index_put.seq for d in deletes)


def test_a_held_bucket_lock_refuses_the_run_and_names_the_object(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str
) -> None:
    publish(upstream, {"a.bin": b"a" * 100})
    client = s3_logged.client()
    client.put_object(Bucket=bucket, Key="p/.mirrorkit/lock", Body=json.dumps(
        {"pid": 4242, "host": "other", "since": "2026-01-01T00:00:00+00:00",
         "command": "mirrorkit run"}).encode())
    res = run_cli(*run_args(upstream, s3_dest(f"s3://{bucket}/p")), env=s3_logged.env())
    assert res.code == 3  # the mirror is in use
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use by another run (pid 4242 on other" in lines[0]
    assert f"delete s3://{bucket}/p/.mirrorkit/lock" in lines[0]
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [o["Key"] for o in listed] == ["p/.mirrorkit/lock"]  # nothing else written


def test_publish_into_a_prefix_a_run_holds_is_refused_and_writes_nothing(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path
) -> None:
    publish(upstream, {"a.bin": b"a" * 100})
    local = tmp_path / "mirror"
    assert run_cli(*run_args(upstream, local)).code == 0
    client = s3_logged.client()
    client.put_object(Bucket=bucket, Key="p/.mirrorkit/lock", Body=json.dumps(
        {"pid": 77, "host": "h", "since": "2026-01-01T00:00:00+00:00",
         "command": "mirrorkit run"}).encode())
    s3_logged.clear()
    res = run_cli("publish", local, f"s3://{bucket}/p", env=s3_logged.env())
    assert res.code == 3 and "in use by another run (pid 77" in res.stderr
    assert s3_logged.writes(bucket) == []


def test_sinks_with_an_s3_dest_are_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "mirrors.toml"
    config.write_text('[[mirrors]]\nname = "m"\nregistry = "static-list"\n'
                      'index_url = "http://127.0.0.1:9/index.json"\n'
                      'dest = "s3://some-bucket/m"\n'
                      '[[mirrors.sinks]]\ntype = "s3"\ntarget = "s3://other-bucket/m"\n')
    res = run_cli("run", "--config", config)
    assert res.code == 2
    assert "the mirror is already in the bucket" in res.stderr
