"""One run sharded over four worker processes into a bucket, one of them killed and retried.

Each worker runs ``mirrorkit run ... --shard auto --shards 4`` with its index in
``JOB_COMPLETION_INDEX``, as a Kubernetes Indexed Job starts it. The bucket must end as a
single process would leave it, every blob downloaded once across the workers (but the one in
flight when a worker was killed), and no index visible before the blobs it names.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from s3log import LoggedS3

from mirrorkit.core.run.shards import ShardSpec
from mirrorkit.testing import Handler
from tests.support.cli import cli_env, run_cli
from tests.support.static_list import publish, run_args
from tests.support.upstream import Upstream

WORKERS = 4
LEASE = "3"


def objects(s3: LoggedS3, bucket: str, prefix: str) -> dict[str, bytes]:
    client = s3.client()
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                  Prefix=prefix + "/"):
        for obj in page.get("Contents", ()):
            key = obj["Key"][len(prefix) + 1:]
            if not key.startswith(".mirrorkit/"):
                out[key] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def published_files(s3: LoggedS3, bucket: str, prefix: str) -> dict[str, Any]:
    raw = s3.client().get_object(Bucket=bucket, Key=f"{prefix}/.mirrorkit/published.json")
    return json.loads(raw["Body"].read())["files"]  # type: ignore[no-any-return]


def bucket_args(upstream: Upstream, dest: str, *extra: str) -> list[str]:
    """``run_args`` for an ``s3://`` dest (a Path would fold its double slash)."""
    args = run_args(upstream, Path("DEST"), *extra)
    args[args.index("DEST")] = dest
    return args


def start_worker(upstream: Upstream, dest: str, index: int, s3: LoggedS3,
                 out: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = cli_env({**s3.env(), "JOB_COMPLETION_INDEX": str(index)})
    args = bucket_args(upstream, dest, "--shard", "auto", "--shards", str(WORKERS),
                       "--lock-lease", LEASE, "--json", *extra)
    log = open(out / f"worker-{index}.{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "mirrorkit", *args], env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def test_four_workers_one_killed_leave_the_bucket_a_single_run_leaves(
        upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path) -> None:
    files = {f"pool/{i:03d}/pkg-{i}.bin": os.urandom(3000 + 7 * i) for i in range(240)}
    publish(upstream, files)

    def slow(req: Handler) -> bool:  # each worker takes a few seconds: time to kill one
        time.sleep(0.03)
        return False

    upstream.route("/repo/files/", slow)

    # the reference: one process
    single = run_cli(*bucket_args(upstream, f"s3://{bucket}/single"), env=s3_logged.env())
    assert single.code == 0, single.stderr
    upstream.clear_log()
    s3_logged.clear()

    dest = f"s3://{bucket}/sharded"
    victim = 1
    # the victim makes one request at a time: when it is killed, one file is downloading and
    # at most one more (downloaded already) is being stored
    workers = {i: start_worker(upstream, dest, i, s3_logged, tmp_path,
                               *(["--concurrency", "1"] if i == victim else []))
               for i in range(WORKERS)}
    deadline = time.monotonic() + 60
    spec = ShardSpec(victim, WORKERS)
    while time.monotonic() < deadline:  # kill the victim once it has downloaded a few
        got = [r for r in upstream.requests("/repo/files/")
               if spec.owns(r.path.removeprefix("/repo/files/"))]
        if len(got) >= 8:
            break
        time.sleep(0.02)
    workers[victim].send_signal(signal.SIGKILL)
    workers[victim].wait()
    for i, proc in workers.items():
        if i != victim:
            assert proc.wait(timeout=120) == 0, (tmp_path / f"worker-{i}").name
    time.sleep(float(LEASE) + 1.5)  # the killed worker's lease runs out
    retried = start_worker(upstream, dest, victim, s3_logged, tmp_path)
    assert retried.wait(timeout=120) == 0, sorted(p.read_text() for p in tmp_path.iterdir())

    # the bucket is what one process leaves
    assert objects(s3_logged, bucket, "sharded") == objects(s3_logged, bucket, "single")
    assert published_files(s3_logged, bucket, "sharded") == published_files(
        s3_logged, bucket, "single")
    leftovers = [k for k in s3_logged.client().list_objects_v2(
        Bucket=bucket, Prefix="sharded/.mirrorkit/shards/").get("Contents", ())]
    assert leftovers == []

    # every blob was downloaded once across the workers, but those in flight at the kill
    counts: dict[str, int] = {}
    for r in upstream.requests("/repo/files/"):
        counts[r.path] = counts.get(r.path, 0) + 1
    assert set(counts) == {f"/repo/files/{p}" for p in files}
    twice = [p for p, n in counts.items() if n > 1]
    assert len(twice) <= 2 and all(counts[p] == 2 for p in twice), twice

    # no index was written before every blob it names
    writes = [e for e in s3_logged.writes(bucket) if e.key.startswith("sharded/")]
    index_at = min(e.seq for e in writes if e.key == "sharded/index.json")
    blob_ends = [end for _, end in s3_logged.spans(
        bucket, lambda e: e.key.startswith("sharded/pool/") and e.method == "PUT")]
    assert blob_ends and max(blob_ends) < index_at
    shas = {p: hashlib.sha256(b).hexdigest() for p, b in files.items()}
    assert {p: e["sha256"] for p, e in published_files(s3_logged, bucket, "sharded").items()
            if p.startswith("pool/")} == shas


def test_a_worker_names_its_share_and_refuses_a_local_dest(
        upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"a.bin": b"a"})
    res = run_cli(*run_args(upstream, tmp_path / "m", "--shard", "0/2"))
    assert res.code == 2 and "s3://" in res.stderr
    res = run_cli(*bucket_args(upstream, "s3://no-such-bucket/p", "--shard", "auto",
                               "--shards", "2"), env={"JOB_COMPLETION_INDEX": ""})
    assert res.code == 2 and "JOB_COMPLETION_INDEX" in res.stderr
    res = run_cli(*bucket_args(upstream, "s3://no-such-bucket/p", "--shard", "3/2"))
    assert res.code == 2 and "from 0 to 1" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
