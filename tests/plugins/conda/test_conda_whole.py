"""``mirrorkit run conda`` without --package: whole subdirs, byte for byte, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.plugins.conda.channel import Channel, Pkg
from tests.plugins.conda.helpers import mirror
from tests.support.cli import run_cli
from tests.support.trees import files

INDEX = ["repodata.json", "repodata.json.zst", "repodata.json.bz2", "current_repodata.json"]


def upstream_files(channel: Channel, subdirs: set[str]) -> set[str]:
    return {p.removeprefix("/chan/") for p in channel.upstream.files
            if p.startswith("/chan/") and (p.count("/") == 2 or p.split("/")[2] in subdirs)}


def test_whole_subdirs_are_byte_identical(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    result = mirror(channel, dest)
    assert result.code == 0, result.stderr
    # linux-64 as asked, noarch always, osx-arm64 not; channeldata.json at the root
    expected = upstream_files(channel, {"linux-64", "noarch"})
    assert "channeldata.json" in expected and "osx-arm64/repodata.json" not in expected
    assert files(dest) == expected
    for rel in expected:
        assert (dest / rel).read_bytes() == channel.upstream.files[f"/chan/{rel}"].body, rel
    assert result.json["downloaded"] == len(expected)
    assert run_cli("verify", dest).code == 0


def test_noop_rerun_downloads_nothing(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest).code == 0
    channel.upstream.clear_log()
    again = mirror(channel, dest)
    assert again.code == 0, again.stderr
    assert again.json["downloaded"] == 0 and again.json["removed"] == 0
    gets = channel.upstream.requests(method="GET")
    # only the index files are asked for, each conditionally; no package at all
    assert gets and all(r.path.rsplit("/", 1)[-1] in {*INDEX, "channeldata.json"}
                        for r in gets), [r.path for r in gets]
    assert all("If-None-Match" in r.headers or "If-Modified-Since" in r.headers for r in gets)


def test_a_package_gone_from_disk_is_found_by_verify_and_fetched_after_repair(
        channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest).code == 0
    victim = next(p for p in channel.packages if p.subdir == "linux-64")
    (dest / victim.path).unlink()
    channel.upstream.clear_log()
    # every index file is as the last run found it: the snapshot is kept without a look
    again = mirror(channel, dest)
    assert again.code == 0, again.stderr
    assert again.json["downloaded"] == 0 and again.json["notes"]["conda"] == {"kept_plan": True}
    assert run_cli("verify", dest).code != 0
    assert run_cli("verify", "--repair", dest).code != 0
    channel.upstream.clear_log()
    repaired = mirror(channel, dest)
    assert repaired.code == 0, repaired.stderr
    # repodata did not change, yet the package is not kept blindly: only it is fetched
    assert repaired.json["downloaded"] == 1
    assert [r.path for r in channel.upstream.requests(method="GET")
            if r.path.rsplit("/", 1)[-1] not in {*INDEX, "channeldata.json"}] == [
        f"/chan/{victim.path}"]
    assert (dest / victim.path).read_bytes() == channel.upstream.files[
        f"/chan/{victim.path}"].body
    assert run_cli("verify", dest).code == 0


def test_package_failed_under_allow_partial_is_fetched_next_time(
        channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    victim = next(p for p in channel.packages if p.subdir == "linux-64")
    channel.upstream.fault(f"/chan/{victim.path}", "corrupt", times=10)
    partial = mirror(channel, dest, "--allow-partial")
    assert partial.json["status"] == "partial", partial.stderr
    assert not (dest / victim.path).exists()
    channel.upstream.faults.clear()
    # the same repodata as last time: its packages are not all in the mirror, so the
    # missing one is fetched
    again = mirror(channel, dest)
    assert again.code == 0, again.stderr
    assert again.json["downloaded"] == 1
    assert (dest / victim.path).read_bytes() == channel.upstream.files[
        f"/chan/{victim.path}"].body


def test_update_adds_and_prunes_after_the_new_repodata(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest).code == 0
    old = next(p for p in channel.packages if p.name == "libfoo" and p.version == "1.0")
    new = Pkg("libfoo", "1.3", "linux-64")
    channel.remove(old)
    channel.add(new)
    channel.publish()
    result = mirror(channel, dest)
    assert result.code == 0, result.stderr
    assert result.json["removed"] == 1
    assert not (dest / old.path).exists()
    assert (dest / new.path).read_bytes() == channel.upstream.files[f"/chan/{new.path}"].body
    repodata = json.loads((dest / "linux-64/repodata.json").read_bytes())
    assert new.filename in repodata["packages.conda"]
    assert old.filename not in repodata["packages.conda"]
    assert files(dest) == upstream_files(channel, {"linux-64", "noarch"})


def test_failed_package_keeps_every_subdirs_repodata(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest).code == 0
    served = {f"{s}/{n}": (dest / s / n).read_bytes()
              for s in ("linux-64", "noarch") for n in INDEX}
    good, bad = Pkg("fresh", "1.0", "noarch"), Pkg("broken", "1.0", "linux-64")
    channel.add(good, bad)
    channel.publish()
    channel.upstream.fault(f"/chan/{bad.path}", "corrupt", times=10)
    result = mirror(channel, dest)
    assert result.code == 1
    report = result.json
    assert report["status"] == "failed"
    assert any(e["path"] == bad.path and "mismatch" in e["error"] for e in report["errors"])
    # neither subdir's index moved, though noarch's own new package verified fine
    assert {p: (dest / p).read_bytes() for p in served} == served
    assert not (dest / bad.path).exists()
    assert run_cli("verify", dest).code == 0
    # once upstream serves the right bytes, the next run completes
    channel.upstream.faults.clear()
    retry = mirror(channel, dest)
    assert retry.code == 0, retry.stderr
    assert (dest / bad.path).exists() and (dest / good.path).exists()


def test_verify_catches_a_corrupt_package(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest).code == 0
    victim = next(p for p in channel.packages if p.subdir == "linux-64")
    data = bytearray((dest / victim.path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (dest / victim.path).write_bytes(bytes(data))
    result = run_cli("verify", dest)
    assert result.code != 0
    assert f"corrupt: {victim.path}" in result.stdout + result.stderr


def test_inconsistent_upstream_variant_fails_without_committing(
        channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    # upstream caught mid-update: the .zst still holds yesterday's repodata
    stale_zst = channel.upstream.files["/chan/linux-64/repodata.json.zst"].body
    channel.add(Pkg("fresh", "1.0", "linux-64"))
    channel.publish()
    channel.upstream.add("/chan/linux-64/repodata.json.zst", stale_zst)
    result = mirror(channel, dest)
    assert result.code == 1
    assert any(e["path"] == "linux-64/repodata.json.zst" and "decompress" in e["error"]
               for e in result.json["errors"])
    assert not (dest / "linux-64/repodata.json").exists()


def test_a_missing_zstandard_module_is_named_not_blamed_on_upstream(
        channel: Channel, tmp_path: Path) -> None:
    """An install without ``zstandard`` (it is a dependency; a broken or hand-made
    environment) says which module is missing, in one line, instead of "does not decompress
    ... (upstream was changing?)", which sent operators to the channel."""
    hide = tmp_path / "hide"
    (hide / "zstandard").mkdir(parents=True)
    (hide / "zstandard" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'zstandard'\", name='zstandard')\n")
    dest = tmp_path / "m"
    result = mirror(channel, dest, env={"PYTHONPATH": str(hide)})
    assert result.code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("mirrorkit: ")]
    assert len(lines) == 1, result.stderr
    assert "needs the Python module 'zstandard', which is not installed" in lines[0]
    assert "decompress" not in result.stderr and "upstream" not in lines[0]
    assert "Traceback" not in result.stderr
    assert not (dest / "linux-64/repodata.json").exists()


def test_toml_config_form(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    config = tmp_path / "mirrors.toml"
    config.write_text(f"""
[[mirrors]]
name = "forge"
registry = "conda"
dest = "{dest}"
channel_url = "{channel.url}"
subdirs = ["linux-64"]
""")
    result = run_cli("run", "--config", config)
    assert result.code == 0, result.stderr
    assert files(dest) == upstream_files(channel, {"linux-64", "noarch"})


def test_bad_options_are_one_clear_line(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    bad_subdir = mirror(channel, dest, subdirs=("Linux 64",))
    assert bad_subdir.code == 2 and "not a conda subdir" in bad_subdir.stderr
    bad_spec = mirror(channel, dest, "--package", "numpy >=>2")
    assert bad_spec.code == 2 and "not a match spec" in bad_spec.stderr
    lonely = mirror(channel, dest, "--with-deps")
    assert lonely.code == 2 and "--package" in lonely.stderr
    assert not dest.exists()
