"""Every option ``run --help`` shows works before or after the registry name.

Before, ``run --dry-run static-list ...`` ignored --dry-run and mirrored everything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.static_list import index_url, publish
from tests.support.upstream import Upstream

FILES = {"a.bin": b"a" * 300, "b.bin": b"b" * 100}


def _registry_args(upstream: Upstream, dest: Path) -> list[str]:
    return ["static-list", "--index-url", index_url(upstream), "--dest", str(dest)]


def _both(command: str, flags: list[str], upstream: Upstream, dest: Path) -> list[list[str]]:
    rest = _registry_args(upstream, dest)
    return [[command, *flags, *rest], [command, *rest, *flags]]


@pytest.mark.parametrize("position", [0, 1], ids=["before", "after"])
def test_dry_run_and_json_in_either_position(upstream: Upstream, tmp_path: Path,
                                             position: int) -> None:
    publish(upstream, FILES)
    dest = tmp_path / "m"
    res = run_cli(*_both("run", ["--dry-run", "--json"], upstream, dest)[position])
    assert res.code == 0, res.stderr
    assert res.json["dry_run"] is True
    assert not dest.exists()  # a dry run: nothing written
    assert upstream.requests("/repo/files/") == []
    res = run_cli(*_both("plan", ["--json"], upstream, dest)[position])
    assert res.code == 0 and res.json["dry_run"] is True
    res = run_cli(*_both("run", ["--json"], upstream, dest)[position])
    assert res.code == 0 and res.json["status"] == "ok" and res.json["downloaded"] == 3


@pytest.mark.parametrize("position", [0, 1], ids=["before", "after"])
def test_logging_options_in_either_position(upstream: Upstream, tmp_path: Path,
                                            position: int) -> None:
    publish(upstream, FILES)
    dest = tmp_path / "m"
    res = run_cli(*_both("run", ["--log-level", "info"], upstream, dest)[position])
    assert res.code == 0 and "mirrorkit: INFO: committed" in res.stderr
    res = run_cli(*_both("run", ["--log-format", "json", "-v"], upstream, dest)[position])
    assert res.code == 0
    records = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    assert any(r["level"] == "info" for r in records)
    res = run_cli(*_both("run", ["-q"], upstream, dest)[position])
    assert res.code == 0 and "INFO" not in res.stderr


def test_logging_options_before_the_command_too(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, FILES)
    res = run_cli("--log-level", "info", "run", *_registry_args(upstream, tmp_path / "m"))
    assert res.code == 0 and "INFO: committed" in res.stderr
    res = run_cli("plugins", "-v")
    assert res.code == 0


@pytest.mark.parametrize("position", [0, 1], ids=["before", "after"])
def test_only_with_a_registry_is_refused_not_ignored(upstream: Upstream, tmp_path: Path,
                                                     position: int) -> None:
    publish(upstream, FILES)
    dest = tmp_path / "m"
    res = run_cli(*_both("run", ["--only", "x"], upstream, dest)[position])
    assert res.code == 2 and "--only" in res.stderr and "--config" in res.stderr
    assert not dest.exists()


def test_every_flag_of_run_help_is_covered() -> None:
    """The flags the tests above run in both positions are all ``run --help`` shows."""
    res = run_cli("run", "--help")
    shown = {word.split("/")[0].rstrip(",") for line in res.stdout.splitlines()
             for word in line.split()[:1] if word.startswith("-")}
    assert shown == {"--config", "--only", "--json", "--dry-run", "--log-format",
                     "--log-level", "-v", "-q", "-h"}
    # --config names a file of mirrors: with a registry it is refused, in either position
    res = run_cli("run", "--config", "x.toml", "static-list", "--index-url", "http://x/")
    assert res.code == 2 and "either --config or a registry" in res.stderr
    res = run_cli("run", "static-list", "--index-url", "http://x/", "--config", "x.toml")
    assert res.code == 2 and "mirrorkit run --config x.toml" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
