"""The lease on the bucket lock, through the command line: runs and publishes into one prefix.

Real processes against moto over HTTP: a run held up by a stalled upstream index keeps its
lock while it waits, is killed with SIGKILL or stopped with SIGSTOP, and the next writer
must find out on its own whether it may go ahead. Leases are set short (``--lock-lease``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from s3log import LoggedS3
from test_s3_dest_e2e import allow_anonymous_reads, assert_served_tree

from mirrorkit.core.store.s3.lease import Lease
from tests.support.cli import Result, run_cli, start_cli
from tests.support.static_list import INDEX, publish, run_args
from tests.support.upstream import Upstream

LOCK = "p/.mirrorkit/lock"


def lock_of(s3: LoggedS3 | Any, bucket: str) -> dict[str, Any] | None:
    """The lock object's body; ``s3`` is the server or, when polling, a client of it."""
    client = s3.client() if isinstance(s3, LoggedS3) else s3
    try:
        raw = client.get_object(Bucket=bucket, Key=LOCK)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    info: dict[str, Any] = json.loads(raw)
    return info


def wait_for_lock_of(proc: subprocess.Popen[str], s3: LoggedS3, bucket: str) -> dict[str, Any]:
    client = s3.client()  # one: making a client takes longer than the run takes the lock
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = lock_of(client, bucket)
        if info is not None and info.get("pid") == proc.pid:
            return info
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the run did not take the lock")


def wait_until_run_out(s3: LoggedS3, bucket: str, timeout: float = 20) -> None:
    """Until the lock left behind reads as expired on the server's clock."""
    reader = Lease(s3.client(), bucket, LOCK, command="reader")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = reader.read()
        assert holder is not None
        if holder.expired:
            return
        time.sleep(0.2)
    raise AssertionError("the lease did not run out")


def keys(s3: LoggedS3, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])}


def error_line(res: Result | tuple[int, str], code: int,
               start: str = "mirrorkit: error:") -> str:
    """The one line saying what went wrong (a run's failures start "mirrorkit: failed:")."""
    rc, err = (res.code, res.stderr) if isinstance(res, Result) else res
    assert rc == code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("mirrorkit: ")]
    assert len(lines) == 1 and lines[0].startswith(start), err
    return lines[0]


def test_a_second_run_is_refused_naming_the_holder_and_a_killed_runs_lock_is_taken_over(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str
) -> None:
    files = {f"pool/pkg{i}.bin": os.urandom(1000 + i) for i in range(5)}
    publish(upstream, files)
    allow_anonymous_reads(s3_logged, bucket)
    dest = f"s3://{bucket}/p"
    upstream.fault(INDEX, "stall", seconds=60)  # the first run waits, holding the lock
    first = start_cli(*run_args(upstream, dest, "--lock-lease", "2", "--timeout", "90"),
                      env=s3_logged.env())
    try:
        holder = wait_for_lock_of(first, s3_logged, bucket)
        assert holder["lease_seconds"] == 2
        time.sleep(4)  # past its first lease and the clock slack: only renewals keep it
        second = run_cli(*run_args(upstream, dest), env=s3_logged.env())
        line = error_line(second, 3)  # in use
        assert (f"in use by another run (pid {first.pid} on {socket.gethostname()} since "
                f"{holder['since']}: {holder['command']}; its lease runs until ") in line
        assert keys(s3_logged, bucket) == {LOCK}  # the second run wrote nothing
    finally:
        first.kill()  # SIGKILL: no chance to release the lock
        first.communicate()
    left = lock_of(s3_logged, bucket)
    assert left is not None and left["pid"] == first.pid

    wait_until_run_out(s3_logged, bucket)
    third = run_cli(*run_args(upstream, dest, "--json"), env=s3_logged.env())
    assert third.code == 0, third.stderr
    assert f"took over the lock of pid {first.pid}" in third.stderr
    assert third.json["status"] == "ok" and third.json["downloaded"] == len(files) + 1
    assert_served_tree(s3_logged, bucket, "p", files)
    assert LOCK not in keys(s3_logged, bucket)  # released


def test_a_run_whose_lock_was_taken_over_fails_its_commit_and_the_bucket_keeps_its_snapshot(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str
) -> None:
    v1 = {f"pool/pkg{i}.bin": os.urandom(1000 + i) for i in range(4)}
    publish(upstream, v1)
    allow_anonymous_reads(s3_logged, bucket)
    dest = f"s3://{bucket}/p"
    before = run_cli(*run_args(upstream, dest, "--json"), env=s3_logged.env())
    assert before.code == 0, before.stderr
    v2 = {**v1, "pool/new.bin": os.urandom(3000)}
    publish(upstream, v2)
    upstream.fault(INDEX, "stall", seconds=3)
    run = start_cli(*run_args(upstream, dest, "--lock-lease", "2", "--timeout", "60"),
                    env=s3_logged.env())
    try:
        wait_for_lock_of(run, s3_logged, bucket)
        run.send_signal(signal.SIGSTOP)  # a stalled node, a long pause: no renewals
        wait_until_run_out(s3_logged, bucket)
        with Lease(s3_logged.client(), bucket, LOCK, command="mirrorkit run (the next one)",
                   seconds=60) as taker:
            assert taker.took_over is not None and taker.took_over.pid == run.pid
            s3_logged.clear()
            run.send_signal(signal.SIGCONT)
            _, err = run.communicate(timeout=60)
            line = error_line((run.returncode, err), 1, "mirrorkit: failed: <run>: commit "
                              f"stopped: s3://{bucket}/{LOCK}: ")
            assert (f"the lock was taken over by pid {os.getpid()} on {socket.gethostname()}"
                    in line and ": mirrorkit run (the next one) after this process's lease "
                    "ran out; nothing more is written" in line)
            # it wrote nothing after it was resumed, and left the new holder's lock alone
            assert [e for e in s3_logged.writes(bucket) if e.key != LOCK] == []
            assert (lock_of(s3_logged, bucket) or {}).get("token") == taker.token
            taker.check()
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert_served_tree(s3_logged, bucket, "p", v1)
    state = json.loads(s3_logged.client().get_object(
        Bucket=bucket, Key="p/.mirrorkit/published.json")["Body"].read())
    assert state["snapshot"] == before.json["snapshot"]
    assert "p/pool/new.bin" not in keys(s3_logged, bucket)


def test_publish_is_refused_by_a_live_lease_and_takes_over_one_that_ran_out(
    upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path
) -> None:
    files = {f"pool/pkg{i}.bin": os.urandom(1000 + i) for i in range(3)}
    publish(upstream, files)
    allow_anonymous_reads(s3_logged, bucket)
    local = tmp_path / "mirror"
    assert run_cli(*run_args(upstream, local)).code == 0
    target = f"s3://{bucket}/p"
    killed = Lease(s3_logged.client(), bucket, LOCK, command="mirrorkit run (killed)",
                   seconds=6)
    killed.acquire()  # then never renewed nor released: the lock a SIGKILLed run leaves
    s3_logged.clear()
    refused = run_cli("publish", local, target, env=s3_logged.env())
    line = error_line(refused, 3)
    assert (f"in use by another run (pid {os.getpid()} on {socket.gethostname()} since "
            in line and ": mirrorkit run (killed); its lease runs until " in line)
    assert s3_logged.writes(bucket) == []  # refused before writing anything

    wait_until_run_out(s3_logged, bucket)
    res = run_cli("publish", local, target, "--json", env=s3_logged.env())
    assert res.code == 0, res.stderr
    assert f"took over the lock of pid {os.getpid()}" in res.stderr
    assert res.json["uploaded"] == len(files) + 1
    assert_served_tree(s3_logged, bucket, "p", files)
    assert LOCK not in keys(s3_logged, bucket)
