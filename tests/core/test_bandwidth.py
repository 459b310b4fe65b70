"""--bandwidth-limit: the whole run receives at most that many bytes per second."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.static_list import publish, run_args
from tests.support.upstream import Upstream

KIB = 1024


def test_a_bandwidth_limit_caps_the_whole_run(upstream: Upstream, tmp_path: Path) -> None:
    files = {f"f{i}.bin": os.urandom(256 * KIB) for i in range(6)}  # 1.5 MiB over 6 bodies
    publish(upstream, files)
    started = time.monotonic()
    res = run_cli(*run_args(upstream, tmp_path / "m", "--bandwidth-limit", "512KiB"))
    took = time.monotonic() - started
    assert res.code == 0, res.stderr
    assert {p: (tmp_path / "m" / p).read_bytes() for p in files} == files
    # one second's worth may arrive at once; the other 1 MiB needs 2 s at 512 KiB/s, however
    # many bodies are in flight (a slow machine only makes this longer)
    assert took >= 2.0, took


def test_a_bandwidth_limit_must_be_a_size(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"a.bin": b"a"})
    for value in ("fast", "0"):
        res = run_cli(*run_args(upstream, tmp_path / "m", "--bandwidth-limit", value))
        assert res.code == 2 and "--bandwidth-limit" in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "m").exists()
