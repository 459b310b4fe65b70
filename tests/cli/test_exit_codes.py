"""One table of exit codes, the same for every command, each error one line (no traceback)."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from mirrorkit.cli import EXIT_CODES
from tests.support.cli import Result, run_cli, start_cli
from tests.support.static_list import index_url, publish
from tests.support.upstream import Upstream

ROOT = Path(__file__).resolve().parents[2]


def one_line_error(res: Result, code: int) -> str:
    assert res.code == code, (res.code, res.stderr)
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("mirrorkit: error:")]
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_readme_has_the_table_the_code_uses() -> None:
    text = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", text, re.M))
    assert sorted(int(code) for code in rows) == sorted(EXIT_CODES) == [0, 1, 2, 3, 130]


@pytest.mark.parametrize("dest", ["/sys/x", "afile/sub", "/proc/x"])
def test_unusable_dest_is_one_line_exit_2(upstream: Upstream, tmp_path: Path, dest: str) -> None:
    publish(upstream, {"a.bin": b"a"})
    (tmp_path / "afile").write_text("a file, not a directory")
    for command in (["run"], ["plan"], ["run", "--dry-run"]):
        res = run_cli(*command, "static-list", "--index-url", index_url(upstream),
                      "--dest", dest, cwd=tmp_path)
        line = one_line_error(res, 2)
        assert dest in line, line
    assert upstream.requests() == []  # refused before any network access


def test_missing_ca_bundle_is_a_usage_error(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"a.bin": b"a"})
    res = run_cli("run", "static-list", "--index-url", index_url(upstream), "--dest",
                  tmp_path / "m", "--ca-bundle", tmp_path / "nope.pem")
    line = one_line_error(res, 2)
    assert "--ca-bundle" in line and "nope.pem" in line
    assert not (tmp_path / "m").exists() and upstream.requests() == []


def test_unusable_source_paths_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    for args in (["verify", missing], ["export", missing, "--to", tmp_path / "out"],
                 ["import", missing, "--into", tmp_path / "m"], ["import", missing, "--check"],
                 ["bundles", missing], ["publish", missing, "s3://bucket/prefix"]):
        line = one_line_error(run_cli(*args), 2)
        assert str(missing) in line, (args, line)


def test_an_empty_bundle_directory_is_a_failure_not_a_bare_header(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli("bundles", empty)
    assert "no bundles" in one_line_error(res, 1) and res.stdout == ""
    res = run_cli("import", empty, "--into", tmp_path / "m5")
    assert res.code == 1 and "no bundle" in res.stderr
    assert "m5 was not created" in res.stderr and "unchanged" not in res.stderr
    assert not (tmp_path / "m5").exists()


def test_failed_run_exits_1_and_lock_held_exits_3(upstream: Upstream, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    args = ["run", "static-list", "--index-url", index_url(upstream), "--dest", dest,
            "--retries", "0"]
    publish(upstream, {"a.bin": b"a" * 10})
    assert run_cli(*args).code == 0
    publish(upstream, {"a.bin": b"a" * 10, "b.bin": b"b"}, wrong_sha={"b.bin"})
    res = run_cli(*args)
    assert res.code == 1 and "b.bin" in res.stderr
    publish(upstream, {"a.bin": b"a" * 10})
    upstream.fault("/repo/index.json", "stall", seconds=20)
    first = start_cli(*args)
    lock = dest / ".mirrorkit" / "lock"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (lock.exists() and lock.stat().st_size):
        time.sleep(0.02)
    for second in (args, ["verify", dest, "--repair", "--lock-wait", "0"]):
        if second[0] == "verify":
            (dest / "a.bin").write_bytes(b"corrupted!")
        res = run_cli(*second)
        assert "in use by another run" in one_line_error(res, 3)
    # and Ctrl-C: exit 130, one line, the lock released
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "Aborted" not in err
    assert lock.stat().st_size == 0


def test_usage_errors_are_one_line_exit_2() -> None:
    line = one_line_error(run_cli("run", "homebrew", "--tags", "x"), 2)
    assert "--tag" in line and "did you mean" in line.lower()
    line = one_line_error(run_cli("run", "homebrew", "--tag", "nonsense", "--dest", "/tmp/x"), 2)
    assert "nonsense" in line and "is not a bottle tag" in line
