"""Commands overlapping on one mirror: ``verify`` during a run, a run during an export.

``verify`` during a run used to report files the run was committing as missing, corrupt or
unexpected (12 of 27 tries); it now confirms what it found against the snapshot the run
commits. A run started during an export failed at once, while the docs said it waits; it
now waits (``--lock-wait``) saying what for, and gives up with a clear line.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.hostile.harness import invoke
from tests.support.cli import run_cli, start_cli
from tests.support.static_list import publish, run_args
from tests.support.trees import mirror_tree
from tests.support.upstream import Upstream


def _files(version: int, count: int, size: int) -> dict[str, bytes]:
    return {f"pool/v{version}/{i:04d}.bin": hashlib.sha256(f"{version}:{i}".encode()).digest()
            * (size // 32) for i in range(count)}


def test_verify_during_a_run_reports_no_false_problems(upstream: Upstream,
                                                       tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    old = _files(1, 600, 2048)
    publish(upstream, old)
    assert run_cli(*run_args(upstream, dest)).code == 0
    # the next version replaces half the files, adds as many, rewrites one in place
    new = {k: v for i, (k, v) in enumerate(sorted(old.items())) if i % 2}
    new.update(_files(2, 300, 2048))
    new[sorted(new)[0]] = b"changed in place\n" * 100
    publish(upstream, new, last_modified=1.8e9)

    run = start_cli(*run_args(upstream, dest, "--concurrency", "4"))
    outcomes = []
    while run.poll() is None:
        out = invoke("verify", dest)
        outcomes.append((out.code, out.stderr))
    assert run.wait() == 0, run.stderr.read() if run.stderr else ""
    assert len(outcomes) >= 3, "the run ended before verify could overlap it"
    bad = [err for code, err in outcomes if code != 0]
    assert bad == [], bad[0]
    final = invoke("verify", dest)
    assert final.code == 0, final.stderr
    assert set(mirror_tree(dest)) == {*new, "index.json"}


def test_verify_still_reports_a_real_problem(upstream: Upstream, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    files = _files(1, 5, 1000)
    publish(upstream, files)
    assert run_cli(*run_args(upstream, dest)).code == 0
    victim = dest / sorted(files)[0]
    victim.write_bytes(b"bit rot")
    (dest / "stray.txt").write_bytes(b"not in the manifest")
    out = invoke("verify", dest)
    assert out.code == 1
    assert f"corrupt: {sorted(files)[0]}" in out.stderr
    assert "unexpected: stray.txt" in out.stderr


def _export_holding_the_lock(dest: Path, to: Path) -> subprocess.Popen[str]:
    """A real ``mirrorkit export``, stopped (SIGSTOP) while it holds the mirror's lock."""
    lock = dest / ".mirrorkit" / "lock"
    for _ in range(5):
        proc = start_cli("export", dest, "--to", to, "--full", "--part-size", "1MiB")
        while proc.poll() is None:
            try:
                info = json.loads(lock.read_bytes() or b"{}")
            except (OSError, ValueError):
                info = {}
            if info.get("pid") == proc.pid:
                proc.send_signal(signal.SIGSTOP)
                return proc
            time.sleep(0.001)
    raise AssertionError("every export finished before it could be stopped")


def test_a_run_during_an_export_waits_for_it(upstream: Upstream, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    publish(upstream, _files(1, 40, 256 * 1024))
    assert run_cli(*run_args(upstream, dest)).code == 0
    new = _files(2, 10, 1000)
    publish(upstream, new, last_modified=1.8e9)

    export = _export_holding_the_lock(dest, tmp_path / "out")
    try:
        # a short wait gives up with one line naming the export
        started = time.monotonic()
        short = run_cli(*run_args(upstream, dest, "--lock-wait", "1"))
        assert short.code == 3  # the mirror is in use
        assert "still in use after waiting 1s" in short.stderr
        assert f"pid {export.pid}" in short.stderr and "mirrorkit export" in short.stderr
        assert time.monotonic() - started < 15
        # a longer one waits, says so, and runs once the export is done
        run = start_cli(*run_args(upstream, dest, "--lock-wait", "60"))
        assert run.stderr is not None
        first_line = run.stderr.readline()  # the export is stopped: the run can only wait
        assert "waiting up to 60s" in first_line and "mirrorkit export" in first_line
        assert run.poll() is None
    finally:
        export.send_signal(signal.SIGCONT)
    assert export.wait(timeout=60) == 0
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert set(mirror_tree(dest)) == {*new, "index.json"}
    assert run_cli("import", "--check", tmp_path / "out").code == 0


def test_a_run_during_another_run_still_stops_at_once(upstream: Upstream,
                                                      tmp_path: Path) -> None:
    """Another run is doing the same work: waiting for it would only repeat it."""
    publish(upstream, {"a.bin": os.urandom(100_000)})
    upstream.fault("/repo/files/a.bin", "stall", seconds=10)
    dest = tmp_path / "mirror"
    first = start_cli(*run_args(upstream, dest, "--timeout", "30"))
    lock = dest / ".mirrorkit" / "lock"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (lock.exists() and lock.stat().st_size):
        time.sleep(0.02)
    second = run_cli(*run_args(upstream, dest, "--lock-wait", "60"))
    assert first.poll() is None  # the second ended while the first still held the mirror
    assert second.code == 3 and "in use by another run" in second.stderr
    assert "waiting" not in second.stderr
    first.wait(timeout=60)
