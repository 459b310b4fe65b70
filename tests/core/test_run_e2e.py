"""End-to-end runs of the core through the CLI, with the example third-party registry."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.support.cli import run_cli, start_cli
from tests.support.static_list import (
    assert_index_consistent,
    index_url,
    publish,
    run_args,
)
from tests.support.trees import mirror_tree
from tests.support.upstream import Upstream


def files_v1() -> dict[str, bytes]:
    return {f"pool/pkg{i}.bin": os.urandom(20_000 + i) for i in range(12)}


def test_first_run_downloads_and_verifies_everything(upstream: Upstream, tmp_path: Path) -> None:
    files = files_v1()
    publish(upstream, files)
    dest = tmp_path / "mirror"
    res = run_cli(*run_args(upstream, dest, "--json"))
    assert res.code == 0, res.stderr
    report = res.json
    assert report["status"] == "ok"
    assert report["downloaded"] == len(files) + 1
    assert report["bytes_downloaded"] >= sum(len(b) for b in files.values())
    assert report["errors"] == []
    for path, body in files.items():
        assert (dest / path).read_bytes() == body
    assert not list((dest / ".mirrorkit" / "tmp").rglob("*"))
    verify = run_cli("verify", dest, "--json")
    assert verify.code == 0, verify.stderr
    assert verify.json["checked"] == len(files) + 1
    # the index keeps the upstream Last-Modified so a static server sends it on
    assert int((dest / "index.json").stat().st_mtime) == 1_700_000_000


def test_noop_rerun_makes_no_blob_requests(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, files_v1())
    dest = tmp_path / "mirror"
    assert run_cli(*run_args(upstream, dest)).code == 0
    upstream.clear_log()
    res = run_cli(*run_args(upstream, dest, "--json"))
    assert res.code == 0, res.stderr
    assert upstream.requests("/repo/files/") == []
    index_requests = upstream.requests("/repo/index.json")
    assert len(index_requests) == 1
    assert "If-None-Match" in index_requests[0].headers  # conditional GET, answered 304
    assert res.json["downloaded"] == 0
    assert res.json["snapshot"] == res.json["previous_snapshot"]


@pytest.mark.parametrize(
    ("kind", "kw"),
    [
        ("status", {"code": 503}),
        ("status", {"code": 429, "retry_after": "1"}),
        ("reset", {}),
        ("truncate", {}),
    ],
    ids=["503", "429-retry-after", "connection-reset", "truncated-body"],
)
def test_recovers_from_transient_faults(
    upstream: Upstream, tmp_path: Path, kind: str, kw: dict[str, object]
) -> None:
    files = files_v1()
    publish(upstream, files)
    target = "/repo/files/pool/pkg3.bin"
    upstream.fault(target, kind, times=2, **kw)  # type: ignore[arg-type]
    dest = tmp_path / "mirror"
    started = time.monotonic()
    res = run_cli(*run_args(upstream, dest, "--json"))
    assert res.code == 0, res.stderr
    assert res.json["status"] == "ok"
    assert (dest / "pool/pkg3.bin").read_bytes() == files["pool/pkg3.bin"]
    assert len(upstream.requests(target)) == 3
    if kw.get("retry_after"):
        assert time.monotonic() - started >= 2.0  # waited the server's Retry-After twice


def test_permanently_wrong_body_fails_that_file_only(upstream: Upstream, tmp_path: Path) -> None:
    files = files_v1()
    publish(upstream, files)
    dest = tmp_path / "mirror"
    assert run_cli(*run_args(upstream, dest)).code == 0
    old_index = (dest / "index.json").read_bytes()
    before = mirror_tree(dest)

    updated = dict(files)
    updated["pool/new-good.bin"] = os.urandom(5000)
    updated["pool/new-bad.bin"] = os.urandom(5000)
    publish(upstream, updated, last_modified=1.8e9, wrong_sha={"pool/new-bad.bin"})
    res = run_cli(*run_args(upstream, dest, "--json", "--retries", "2"))
    assert res.code == 1
    report = res.json
    assert report["status"] == "failed"
    assert [e["path"] for e in report["errors"]] == ["pool/new-bad.bin"]
    assert "sha256 mismatch" in report["errors"][0]["error"]
    assert "pool/new-bad.bin: sha256 mismatch" in res.stderr
    # the previous snapshot is still what clients see, intact
    assert (dest / "index.json").read_bytes() == old_index
    assert not (dest / "pool/new-bad.bin").exists()
    assert {k: v for k, v in mirror_tree(dest).items() if k != "pool/new-good.bin"} == before
    assert run_cli("verify", dest).code == 0
    # the good new file was verified and kept: the next run does not fetch it again
    publish(upstream, updated, last_modified=1.9e9)
    upstream.clear_log()
    res = run_cli(*run_args(upstream, dest, "--json"))
    assert res.code == 0, res.stderr
    assert upstream.requests("/repo/files/pool/new-good.bin") == []
    assert (dest / "pool/new-bad.bin").read_bytes() == updated["pool/new-bad.bin"]


def test_update_commits_index_last_and_prunes_after(upstream: Upstream, tmp_path: Path) -> None:
    files = files_v1()
    publish(upstream, files)
    dest = tmp_path / "mirror"
    assert run_cli(*run_args(upstream, dest)).code == 0

    updated = {k: v for k, v in files.items() if k not in {"pool/pkg0.bin", "pool/pkg1.bin"}}
    updated["pool/pkg5.bin"] = os.urandom(7000)  # changed in place
    for i in range(4):
        updated[f"pool/added{i}.bin"] = os.urandom(300_000)
    publish(upstream, updated, last_modified=1.8e9)
    for i in range(4):  # slow the new blobs down so the observer sees the run in progress
        upstream.fault(f"/repo/files/pool/added{i}.bin", "drip", seconds=0.003)

    violations: list[str] = []
    seen_new_index = threading.Event()
    stop = threading.Event()

    def observe() -> None:
        while not stop.is_set():
            try:
                named = assert_index_consistent(dest, frozenset({"pool/pkg5.bin"}))
            except (AssertionError, FileNotFoundError) as exc:
                violations.append(repr(exc))
                continue
            if "pool/added0.bin" in named:
                seen_new_index.set()

    watcher = threading.Thread(target=observe)
    watcher.start()
    try:
        res = run_cli(*run_args(upstream, dest, "--json"))
    finally:
        stop.set()
        watcher.join()
    assert res.code == 0, res.stderr
    assert violations == []
    assert res.json["removed"] == 2
    assert not (dest / "pool/pkg0.bin").exists()
    assert mirror_tree(dest) == {
        **{k: hashlib.sha256(v).hexdigest() for k, v in updated.items()},
        "index.json": hashlib.sha256(upstream.files["/repo/index.json"].body).hexdigest(),
    }
    assert run_cli("verify", dest).code == 0


def test_sigkill_mid_run_then_rerun_converges(upstream: Upstream, tmp_path: Path) -> None:
    files = {f"pool/big{i}.bin": os.urandom(400_000) for i in range(6)}
    publish(upstream, files)
    for i in range(6):
        upstream.fault(f"/repo/files/pool/big{i}.bin", "drip", seconds=0.002)
    dest = tmp_path / "mirror"
    proc = start_cli(*run_args(upstream, dest, "--concurrency", "2"))
    deadline = time.monotonic() + 20
    staging = dest / ".mirrorkit" / "tmp"
    while time.monotonic() < deadline:  # wait until files are being written
        if staging.exists() and any(p.stat().st_size > 0 for p in staging.rglob("*.part")):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (dest / "index.json").exists()  # nothing half-done is served
    assert any(staging.rglob("*.part"))  # the killed run left temp files behind

    res = run_cli(*run_args(upstream, dest, "--json"))
    assert res.code == 0, res.stderr
    assert not list(staging.rglob("*"))
    verify = run_cli("verify", dest)
    assert verify.code == 0, verify.stderr
    assert assert_index_consistent(dest) == sorted(files)


def test_second_concurrent_run_is_refused(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"a.bin": os.urandom(100_000)})
    # long enough that the second run meets the first however slow its start-up is; the
    # first is then interrupted (exit 130) rather than waited for
    upstream.fault("/repo/files/a.bin", "stall", seconds=60)
    dest = tmp_path / "mirror"
    first = start_cli(*run_args(upstream, dest))
    lock = dest / ".mirrorkit" / "lock"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (lock.exists() and lock.stat().st_size):
        time.sleep(0.02)
    second = run_cli(*run_args(upstream, dest))
    first.send_signal(signal.SIGINT)
    first.wait(timeout=30)
    assert first.returncode == 130
    assert second.code == 3  # exit-code table: mirror in use
    assert "in use by another run" in second.stderr
    assert f"pid {first.pid}" in second.stderr


def test_dry_run_writes_nothing_and_counts(upstream: Upstream, tmp_path: Path) -> None:
    files = files_v1()
    publish(upstream, files)
    dest = tmp_path / "mirror"
    res = run_cli("plan", "static-list", "--index-url", index_url(upstream), "--dest", dest,
                  "--json")
    assert res.code == 0, res.stderr
    assert res.json["dry_run"] is True
    assert res.json["downloaded"] == len(files) + 1  # the files and the index
    assert res.json["bytes_to_download"] == sum(len(b) for b in files.values())
    assert not dest.exists()
    assert upstream.requests("/repo/files/") == []
    assert "would fetch 13" in res.stderr


def test_bad_config_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    config = tmp_path / "mirrors.toml"
    config.write_text(
        '[[mirrors]]\nname = "one"\nregistry = "static-list"\nindex_url = "not a url"\n'
        'settings = { concurrency = 0 }\n\n'
        '[[mirrors]]\nname = "two"\nregistry = "no-such-registry"\n'
    )
    res = run_cli("run", "--config", config)
    assert res.code == 2
    lines = res.stderr.strip().splitlines()
    assert any("mirrors[0].index_url" in line and "URL" in line for line in lines), lines
    assert any("mirrors[0].settings.concurrency" in line for line in lines), lines
    assert any("mirrors[1].registry" in line and "no-such-registry" in line for line in lines)
    assert len(lines) == 3


def test_config_runs_several_mirrors(upstream: Upstream, tmp_path: Path) -> None:
    files = files_v1()
    publish(upstream, files)
    config = tmp_path / "mirrors.toml"
    config.write_text(
        f'[settings]\nconcurrency = 4\n\n'
        f'[[mirrors]]\nname = "all"\nregistry = "static-list"\ndest = "m/all"\n'
        f'index_url = "{index_url(upstream)}"\n\n'
        f'[[mirrors]]\nname = "some"\nregistry = "static-list"\ndest = "m/some"\n'
        f'index_url = "{index_url(upstream)}"\ninclude = ["pool/pkg1"]\n'
    )
    res = run_cli("run", "--config", config, "--json")
    assert res.code == 0, res.stderr
    out = res.json
    assert out["status"] == "ok"
    assert [m["mirror"] for m in out["mirrors"]] == ["all", "some"]
    assert sorted(p.name for p in (tmp_path / "m/some/pool").iterdir()) == [
        "pkg1.bin", "pkg10.bin", "pkg11.bin"]
    only = run_cli("run", "--config", config, "--only", "some", "--json")
    assert only.code == 0 and only.json["mirror"] == "some"


def test_cli_flag_error_exits_2(tmp_path: Path) -> None:
    res = run_cli("run", "static-list", "--index-url", "ftp:/x", "--dest", tmp_path / "m",
                  "--concurrency", "zero")
    assert res.code == 2
    assert "--index-url" in res.stderr and "--concurrency" in res.stderr


def test_json_logs_and_single_json_report(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"a.bin": b"a" * 1000})
    upstream.fault("/repo/files/a.bin", "status", code=503)
    res = run_cli("--log-format", "json", "--log-level", "info",
                  *run_args(upstream, tmp_path / "m", "--json"))
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "ok"  # stdout holds exactly one object
    log_lines = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    assert any("retrying after HTTP 503" in rec["message"] for rec in log_lines)
    assert all({"time", "level", "logger", "message"} <= rec.keys() for rec in log_lines)


def test_example_plugin_is_listed_with_its_distribution() -> None:
    res = run_cli("plugins", "--json")
    assert res.code == 0, res.stderr
    rows = {(r["kind"], r["name"]): r for r in res.json}
    assert rows[("registry", "static-list")]["distribution"].startswith("mirrorkit-static-list")


def test_allow_partial_commits_the_index_and_reports_partial(
    upstream: Upstream, tmp_path: Path
) -> None:
    files = files_v1()
    publish(upstream, files, wrong_sha={"pool/pkg2.bin"})
    dest = tmp_path / "mirror"
    res = run_cli(*run_args(upstream, dest, "--json", "--retries", "0", "--allow-partial"))
    assert res.code == 1
    assert res.json["status"] == "partial"
    assert res.json["failed"] == 1
    assert (dest / "index.json").exists()
    assert not (dest / "pool/pkg2.bin").exists()


def test_prune_grace_keeps_stale_files_for_a_while(upstream: Upstream, tmp_path: Path) -> None:
    files = files_v1()
    publish(upstream, files)
    dest = tmp_path / "mirror"
    assert run_cli(*run_args(upstream, dest)).code == 0
    publish(upstream, {k: v for k, v in files.items() if k != "pool/pkg0.bin"},
            last_modified=1.8e9)
    res = run_cli(*run_args(upstream, dest, "--json", "--prune-grace", "3600"))
    assert res.code == 0 and res.json["removed"] == 0
    assert (dest / "pool/pkg0.bin").exists()  # still there for clients of the old index
    manifest = json.loads((dest / ".mirrorkit/manifest.json").read_bytes())
    assert "stale_since" in manifest["files"]["pool/pkg0.bin"]
    res = run_cli(*run_args(upstream, dest, "--json", "--prune-grace", "0"))
    assert res.json["removed"] == 1
    assert not (dest / "pool/pkg0.bin").exists()
    assert run_cli("verify", dest).code == 0


def test_verify_names_missing_corrupt_and_unexpected_files(
    upstream: Upstream, tmp_path: Path
) -> None:
    publish(upstream, files_v1())
    dest = tmp_path / "mirror"
    assert run_cli(*run_args(upstream, dest)).code == 0
    (dest / "pool/pkg0.bin").unlink()
    with open(dest / "pool/pkg1.bin", "r+b") as fh:
        fh.write(b"\0")
    (dest / "pool/stray.txt").write_text("?")
    res = run_cli("verify", dest, "--json")
    assert res.code == 1
    assert res.json["missing"] == ["pool/pkg0.bin"]
    assert res.json["corrupt"] == ["pool/pkg1.bin"]
    assert res.json["unexpected"] == ["pool/stray.txt"]
    assert "corrupt: pool/pkg1.bin" in res.stderr
    # --repair forgets the bad files, and the next run fetches them again
    (dest / "pool/stray.txt").unlink()
    repair = run_cli("verify", dest, "--repair")
    assert repair.code == 1 and "2 files will be fetched again" in repair.stderr
    res = run_cli(*run_args(upstream, dest, "--json"))
    assert res.code == 0 and res.json["downloaded"] == 2
    assert run_cli("verify", dest).code == 0


def test_tokens_in_urls_stay_out_of_output(upstream: Upstream, tmp_path: Path) -> None:
    token = "s3cr3t-t0ken-value-123"
    res = run_cli("--log-format", "json", "--log-level", "debug", "run", "static-list",
                  "--index-url", f"{upstream.url}/missing.json?access_token={token}",
                  "--dest", tmp_path / "m", "--json", "--retries", "0",
                  env={"UPSTREAM_TOKEN": "another-secret-value"})
    assert res.code == 1
    assert "missing.json" in res.stderr and "HTTP 404" in res.stdout
    assert token not in res.stdout and token not in res.stderr
