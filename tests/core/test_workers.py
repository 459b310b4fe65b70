"""Download worker processes (``--workers``): same results, same recovery, no orphans."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.reliability.helpers import expected_tree, leftover_temp_files
from tests.reliability.test_disk_full import _fill, small_fs  # noqa: F401 (fixture)
from tests.support.cli import run_cli, start_cli
from tests.support.static_list import INDEX, publish, run_args
from tests.support.trees import mirror_tree
from tests.support.upstream import Upstream


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc: Linux only, like PR_SET_PDEATHSIG)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as dead: it writes nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def test_workers_recover_from_faults_and_verify(upstream: Upstream, tmp_path: Path) -> None:
    files = {f"pool/pkg{i}.bin": os.urandom(20_000 + i) for i in range(40)}
    files["pool/large.bin"] = os.urandom(3 * 1024 * 1024)  # hashed and written in batches
    publish(upstream, files, wrong_sha={"pool/pkg7.bin"})
    upstream.fault("/repo/files/pool/pkg1.bin", "status", times=2, code=503)
    upstream.fault("/repo/files/pool/pkg2.bin", "status", times=1, code=429, retry_after="1")
    upstream.fault("/repo/files/pool/pkg3.bin", "reset", times=2)
    upstream.fault("/repo/files/pool/pkg4.bin", "truncate", times=2)
    upstream.fault("/repo/files/pool/pkg5.bin", "corrupt", times=1)
    upstream.fault("/repo/files/pool/large.bin", "truncate", times=1)
    dest = tmp_path / "mirror"
    started = time.monotonic()
    res = run_cli(*run_args(upstream, dest, "--json", "--workers", "2", "--retries", "3",
                            "--allow-partial"))
    assert res.code == 1, res.stderr  # partial
    report = res.json
    assert report["status"] == "partial"
    # the one file whose published digest is wrong fails, after its retries, alone
    assert [e["path"] for e in report["errors"]] == ["pool/pkg7.bin"]
    assert "sha256 mismatch" in report["errors"][0]["error"]
    assert len(upstream.requests("/repo/files/pool/pkg7.bin")) == 4
    for path in ("pkg1", "pkg3", "pkg4"):
        assert len(upstream.requests(f"/repo/files/pool/{path}.bin")) == 3
    assert time.monotonic() - started >= 1.0  # the 429's Retry-After was honoured
    for path, body in files.items():
        if path != "pool/pkg7.bin":
            assert hashlib.sha256((dest / path).read_bytes()).digest() == \
                hashlib.sha256(body).digest(), path
    assert not (dest / "pool/pkg7.bin").exists()
    assert not list((dest / ".mirrorkit" / "tmp").rglob("*"))
    assert run_cli("verify", dest).code == 0


def test_workers_zero_and_two_mirror_the_same_tree(upstream: Upstream, tmp_path: Path) -> None:
    files = {f"pool/f{i}.bin": os.urandom(1000 + i) for i in range(100)}
    publish(upstream, files)
    a, b = tmp_path / "a", tmp_path / "b"
    ra = run_cli(*run_args(upstream, a, "--json", "--workers", "0"))
    rb = run_cli(*run_args(upstream, b, "--json", "--workers", "2"))
    assert ra.code == rb.code == 0, ra.stderr + rb.stderr
    for key in ("downloaded", "bytes_downloaded", "failed"):
        assert ra.json[key] == rb.json[key]
    for path, body in files.items():
        assert (a / path).read_bytes() == (b / path).read_bytes() == body
    # limits smaller than the worker count: fewer workers, never more in flight
    c = tmp_path / "c"
    rc = run_cli(*run_args(upstream, c, "--json", "--workers", "2", "--per-host", "1"))
    assert rc.code == 0, rc.stderr
    assert rc.json["downloaded"] == ra.json["downloaded"]


def test_sigkill_of_the_run_leaves_no_worker_behind(upstream: Upstream, tmp_path: Path) -> None:
    files = {f"pool/big{i}.bin": os.urandom(400_000) for i in range(8)}
    publish(upstream, files)
    for i in range(8):
        upstream.fault(f"/repo/files/pool/big{i}.bin", "drip", seconds=0.003)
    dest = tmp_path / "mirror"
    proc = start_cli(*run_args(upstream, dest, "--workers", "2", "--concurrency", "4"))
    staging = dest / ".mirrorkit" / "tmp"
    workers: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait for the workers to be writing
        workers = [p for p in _children(proc.pid) if "worker_main" in _cmdline(p)]
        if len(workers) == 2 and staging.exists() and any(
                p.stat().st_size > 0 for p in staging.rglob("*.part")):
            break
        time.sleep(0.01)
    assert len(workers) == 2, "the run did not start two download workers"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in workers), "a download worker outlived the killed run"
    sizes = {p: p.stat().st_size for p in staging.rglob("*.part")}
    time.sleep(0.3)
    assert {p: p.stat().st_size for p in staging.rglob("*.part")} == sizes  # nobody writes
    assert not (dest / "index.json").exists()

    res = run_cli(*run_args(upstream, dest, "--json", "--workers", "2"))
    assert res.code == 0, res.stderr
    for path, body in files.items():
        assert (dest / path).read_bytes() == body
    assert not list(staging.rglob("*"))
    assert run_cli("verify", dest).code == 0


def test_disk_full_in_a_worker_stops_the_run_cleanly(
    upstream: Upstream, small_fs: Path,  # noqa: F811 (the fixture imported above)
) -> None:
    rng = random.Random(8)
    dest = small_fs / "mirror"
    v1 = {f"pool/a{i}.bin": rng.randbytes(40_000) for i in range(5)}
    publish(upstream, v1)
    assert run_cli(*run_args(upstream, dest, "--workers", "2")).code == 0
    old_index = (dest / "index.json").read_bytes()
    v2 = {**v1, **{f"pool/b{i}.bin": rng.randbytes(300_000) for i in range(4)}}
    publish(upstream, v2, last_modified=1.8e9)
    filler = small_fs / "filler"
    _fill(filler, leave=200_000)
    res = run_cli(*run_args(upstream, dest, "--json", "--workers", "2"))
    assert res.code == 1, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("mirrorkit: failed:")]
    assert len(lines) == 1, res.stderr  # the worker's ENOSPC stops the run, reported once
    assert "No space left on device" in lines[0]
    assert "Traceback" not in res.stderr
    assert (dest / "index.json").read_bytes() == old_index
    assert leftover_temp_files(dest) == []
    filler.unlink()
    res = run_cli(*run_args(upstream, dest, "--json", "--workers", "2"))
    assert res.code == 0, res.stderr
    assert mirror_tree(dest) == expected_tree(v2, upstream.files[INDEX].body)


def test_worker_log_records_reach_the_runs_json_log(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"a.bin": b"a" * 1000})
    upstream.fault("/repo/files/a.bin", "status", code=503)
    res = run_cli("--log-format", "json", "--log-level", "info",
                  *run_args(upstream, tmp_path / "m", "--json", "--workers", "2"))
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "ok"
    records = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    assert any("retrying after HTTP 503" in rec["message"] for rec in records), res.stderr
