"""The command line's runs make their requests in a second process (core/download_process.py).

What a user would notice: the same mirror either way, no process left behind after a run or
an interrupt, and a download process that dies fails the run in one clear line with the
mirror as it was.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.cli import run_cli, start_cli
from tests.support.static_list import assert_index_consistent, publish, run_args
from tests.support.trees import mirror_tree
from tests.support.upstream import Upstream


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _wait_for(check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie still answers kill(0): it has exited and waits to be collected
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def _stalled_run(upstream: Upstream, dest: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    """A run whose one file never arrives, and its download process once it asks for it."""
    proc = start_cli(*run_args(upstream, dest, *extra))
    _wait_for(lambda: upstream.requests("/repo/files/stall.bin"))
    [child] = _children(proc.pid)
    return proc, child


def test_with_or_without_the_download_process_the_mirror_is_the_same(
        upstream: Upstream, tmp_path: Path) -> None:
    files = {f"pool/p{i}.bin": os.urandom(5000 + i) for i in range(30)}
    publish(upstream, files)
    trees = []
    for setting in ("auto", "off"):
        dest = tmp_path / setting
        res = run_cli(*run_args(upstream, dest, "--download-process", setting, "--json"))
        assert res.code == 0, res.stderr
        assert res.json["downloaded"] == len(files) + 1
        hosts = res.json["hosts"]
        assert [h["requests"] for h in hosts] == [len(files) + 1]
        trees.append(mirror_tree(dest))
    assert trees[0] == trees[1]


def test_the_download_process_ends_with_an_interrupted_run(
        upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"stall.bin": os.urandom(1000)})
    upstream.fault("/repo/files/stall.bin", "stall", seconds=60)
    proc, child = _stalled_run(upstream, tmp_path / "mirror")
    assert Path(f"/proc/{child}/cmdline").read_bytes() == Path(
        f"/proc/{proc.pid}/cmdline").read_bytes()  # a fork of the command, not a new program
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode == 130
    assert _gone(child)


def test_off_makes_the_requests_in_the_run_itself(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"stall.bin": os.urandom(1000)})
    upstream.fault("/repo/files/stall.bin", "stall", seconds=60)
    proc = start_cli(*run_args(upstream, tmp_path / "mirror", "--download-process", "off"))
    try:
        _wait_for(lambda: upstream.requests("/repo/files/stall.bin"))
        assert _children(proc.pid) == []
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_a_lost_download_process_fails_the_run_and_leaves_the_mirror_as_it_was(
        upstream: Upstream, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    first = {"a.bin": os.urandom(3000), "b.bin": os.urandom(3000)}
    publish(upstream, first)
    assert run_cli(*run_args(upstream, dest)).code == 0
    before = mirror_tree(dest)

    publish(upstream, {**first, "stall.bin": os.urandom(1000)})
    upstream.fault("/repo/files/stall.bin", "stall", seconds=60)
    proc, child = _stalled_run(upstream, dest)
    os.kill(child, signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "the download process ended unexpectedly" in err
    assert mirror_tree(dest) == before
    assert assert_index_consistent(dest) == sorted(first)
