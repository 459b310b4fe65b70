"""The apt registry through the command line, against repositories built by reprepro and
apt-ftparchive and served on 127.0.0.1 (one behind Basic auth ``bearer:TOKEN``)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from tests.plugins.apt.conftest import TOKEN, AptUpstream, World
from tests.support.cli import Result, run_cli

SELECTED = ("main/binary-amd64/", "main/binary-arm64/", "main/source/")


def write_list(tmp: Path, up: AptUpstream, key: Path, *, extra: str = "",
               debian_clean: bool = False) -> Path:
    text = (
        "# apt-mirror's own format, unchanged\n"
        "set defaultarch amd64\nset nthreads 20\nset limit_rate 100m\nset _tilde 0\n\n"
        f"deb [arch=amd64,arm64 signed-by={key}] {up.url}/debian stable main\n"
        f"deb-src [signed-by={key}] {up.url}/debian stable main\n"
        f"deb [signed-by={key}] {up.esm_url} jammy main\n"
        + (f"clean {up.url}/debian\n" if debian_clean else "") + extra
    )
    path = tmp / "mirror.list"
    path.write_text(text)
    return path


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".mirrorkit" not in p.relative_to(root).parts}


def assert_no_token(result: Result, dest: Path) -> None:
    assert TOKEN not in result.stdout and TOKEN not in result.stderr
    for path in dest.rglob("*"):
        assert TOKEN not in path.as_posix()
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_mirror_list_run(world: World, apt_up: AptUpstream, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    listing = write_list(tmp_path, apt_up, world.key.keyring)
    result = run_cli("run", "apt", "--mirror-list", listing, "--dest", dest)
    assert result.code == 0, result.stderr
    got = files_under(dest)
    debian = "127.0.0.1/debian/"

    # indexes: byte-identical, only the selected components and architectures
    upstream = world.v1.files()
    for rel, body in upstream.items():
        wanted = rel.startswith("dists/stable/") and (
            rel.count("/") == 2 or rel.startswith(tuple(f"dists/stable/{s}" for s in SELECTED)))
        if rel.startswith("dists/"):
            assert (got.get(debian + rel) == body) if wanted else (debian + rel not in got), rel
    assert not any("/contrib/" in p or "debian-installer" in p for p in got)
    # pool: both architectures of arch=amd64,arm64 plus all; sources from the deb-src line
    pool = sorted(p.removeprefix(debian) for p in got if p.startswith(debian + "pool/"))
    assert pool == ["pool/main/c/common/common_1.0_all.deb", "pool/main/h/hello/hello_1.0.dsc",
                    "pool/main/h/hello/hello_1.0.tar.xz",
                    "pool/main/h/hello/hello_1.0_amd64.deb",
                    "pool/main/h/hello/hello_1.0_arm64.deb"]
    assert all(got[debian + p] == upstream[p] for p in pool)
    # the authenticated repository, with its by-hash files, at apt-mirror's host/path
    esm = world.esm.files()
    assert {p.removeprefix("127.0.0.1/esm/"): b for p, b in got.items()
            if p.startswith("127.0.0.1/esm/")} == {
        p: b for p, b in esm.items() if "/SHA512/" not in p}
    assert all(r.headers.get("Authorization", "").startswith("Basic ")
               for r in apt_up.server.requests("/esm/"))
    # ignored settings said once, signatures checked (so no "not checked" note)
    assert result.stderr.count("nthreads") == 1 and "limit_rate" in result.stderr
    assert "not checked" not in result.stderr
    assert_no_token(result, dest)

    # a no-op re-run: conditional requests for the three Release files, nothing else
    apt_up.server.clear_log()
    again = run_cli("run", "apt", "--mirror-list", listing, "--dest", dest, "--json")
    assert again.code == 0, again.stderr
    assert again.json["downloaded"] == 0
    requests = apt_up.server.log
    others = [(r.method, r.path) for r in requests
              if r.path.rsplit("/", 1)[1] not in ("InRelease", "Release", "Release.gpg")]
    assert requests and not others
    assert all(r.method == "GET" and ("If-None-Match" in r.headers
                                      or "If-Modified-Since" in r.headers) for r in requests)
    assert files_under(dest) == got
    assert_no_token(again, dest)


def test_one_repository_flags_filter_architecture(world: World, apt_up: AptUpstream,
                                                  tmp_path: Path) -> None:
    dest = tmp_path / "debian"
    result = run_cli("run", "apt", "--url", f"{apt_up.url}/debian", "--suite", "stable",
                     "--component", "contrib", "--arch", "arm64", "--keyring",
                     world.key.keyring, "--dest", dest)
    assert result.code == 0, result.stderr
    got = files_under(dest)  # laid at DEST itself
    assert got["dists/stable/InRelease"] == world.v1.files()["dists/stable/InRelease"]
    assert "dists/stable/contrib/binary-arm64/Packages.xz" in got
    assert not any(p.startswith(("dists/stable/main/", "pool/main/")) for p in got)
    assert not any("binary-amd64" in p or "/source/" in p for p in got)
    # extra-contrib exists for amd64 only: nothing of the pool for arm64 in contrib
    assert not any(p.startswith("pool/") for p in got)


def test_signatures_unchecked_without_keyring_said_once(apt_up: AptUpstream,
                                                        tmp_path: Path) -> None:
    dest = tmp_path / "m"
    result = run_cli("run", "apt", "--url", f"{apt_up.url}/debian", "--suite", "stable",
                     "--component", "main", "--arch", "amd64", "--udeb", "--dest", dest)
    assert result.code == 0, result.stderr
    assert result.stderr.count("signatures not checked") == 1
    got = files_under(dest)
    assert "pool/main/i/inst/inst_1.0_amd64.udeb" in got  # --udeb
    assert "pool/main/h/hello/hello_1.0_amd64.deb" in got
    assert not any(p.endswith(".dsc") for p in got)  # no --source


def test_update_with_clean_and_without(world: World, apt_up: AptUpstream,
                                       tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    key = world.key.keyring
    listing = write_list(tmp_path, apt_up, key, debian_clean=True,
                         extra=f"deb [signed-by={key}] {apt_up.url}/other stable main\n")
    assert run_cli("run", "apt", "--mirror-list", listing, "--dest", dest).code == 0
    apt_up.publish("/debian", world.v2)
    apt_up.publish("/other", world.v2)
    result = run_cli("run", "apt", "--mirror-list", listing, "--dest", dest, "--json")
    assert result.code == 0, result.stderr
    got = files_under(dest)
    v2 = world.v2.files()
    for repo in ("debian", "other"):
        assert got[f"127.0.0.1/{repo}/dists/stable/InRelease"] == v2["dists/stable/InRelease"]
        assert f"127.0.0.1/{repo}/pool/main/h/hello/hello_1.1_amd64.deb" in got
    # clean: the old release is gone from the clean repository only
    assert "127.0.0.1/debian/pool/main/h/hello/hello_1.0_amd64.deb" not in got
    assert "127.0.0.1/debian/pool/main/h/hello/hello_1.0.dsc" not in got
    assert "127.0.0.1/other/pool/main/h/hello/hello_1.0_amd64.deb" in got
    assert result.json["removed"] > 0
    # and the kept files stay in the manifest, so verify still vouches for them
    assert run_cli("verify", dest).code == 0


def test_failed_pool_file_keeps_previous_inrelease(world: World, apt_up: AptUpstream,
                                                   tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    listing = write_list(tmp_path, apt_up, world.key.keyring)
    assert run_cli("run", "apt", "--mirror-list", listing, "--dest", dest).code == 0
    before = files_under(dest)
    apt_up.publish("/debian", world.v2)
    apt_up.server.remove("/debian/pool/main/h/hello/hello_1.1_arm64.deb")
    result = run_cli("run", "apt", "--mirror-list", listing, "--dest", dest)
    assert result.code == 1
    assert "hello_1.1_arm64.deb" in result.stderr
    after = files_under(dest)
    debian = "127.0.0.1/debian/dists/stable/"
    for name in ("InRelease", "Release", "Release.gpg", "main/binary-amd64/Packages.xz",
                 "main/source/Sources.xz"):
        assert after[debian + name] == before[debian + name], name
    assert "127.0.0.1/debian/pool/main/h/hello/hello_1.0_amd64.deb" in after
    # once upstream has the file, the update completes
    apt_up.publish("/debian", world.v2)
    assert run_cli("run", "apt", "--mirror-list", listing, "--dest", dest).code == 0
    assert files_under(dest)[debian + "InRelease"] == world.v2.files()["dists/stable/InRelease"]


def test_bad_signature_refused(world: World, apt_up: AptUpstream, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    listing = write_list(tmp_path, apt_up, world.other_key.keyring)
    first = run_cli("run", "apt", "--mirror-list", listing, "--dest", dest)
    assert first.code == 1
    lines = [ln for ln in first.stderr.splitlines() if "signature does not verify" in ln]
    assert len(lines) == 1 and "dists/stable/InRelease" in lines[0]
    assert files_under(dest) == {}  # not one pool file fetched before the check

    # a mirror that was good stays exactly as it was when upstream's signature goes bad
    good = write_list(tmp_path, apt_up, world.key.keyring)
    assert run_cli("run", "apt", "--mirror-list", good, "--dest", dest).code == 0
    before = files_under(dest)
    apt_up.publish("/debian", world.v2)
    apt_up.server.add("/debian/dists/stable/InRelease", world.bad_inrelease)
    apt_up.server.add("/debian/dists/stable/Release.gpg", world.bad_release_gpg)
    result = run_cli("run", "apt", "--mirror-list", good, "--dest", dest)
    assert result.code == 1 and "signature does not verify" in result.stderr
    assert files_under(dest) == before


def test_plan_estimate_matches_true_sizes(world: World, apt_up: AptUpstream,
                                          tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    listing = write_list(tmp_path, apt_up, world.key.keyring)
    plan = run_cli("plan", "apt", "--mirror-list", listing, "--dest", dest, "--json")
    assert plan.code == 0, plan.stderr
    assert not dest.exists()  # planning writes nothing into --dest
    estimate = plan.json
    assert estimate["status"] == "ok" and estimate["dry_run"] is True  # the plan's own fields
    assert_no_token(plan, dest)
    assert estimate["included_repos"] == [
        f"deb [arch=amd64,arm64] {apt_up.url}/debian/ stable main",
        f"deb-src {apt_up.url}/debian/ stable main",
        f"deb [arch=amd64] http://127.0.0.1:{apt_up.server.port}/esm/ jammy main"]

    assert run_cli("run", "apt", "--mirror-list", listing, "--dest", dest).code == 0
    sizes = sum(len(b) for b in files_under(dest).values())
    assert estimate["bytes"] == sizes
    assert estimate["readable"] == f"{sizes / 1000:.2f} KB"
    # stanzas: one per package in each selected Packages and Sources file
    stanzas = 0
    for rel in ("127.0.0.1/debian/dists/stable/main/binary-amd64/Packages.gz",
                "127.0.0.1/debian/dists/stable/main/binary-arm64/Packages.gz",
                "127.0.0.1/debian/dists/stable/main/source/Sources.gz",
                "127.0.0.1/esm/dists/jammy/main/binary-amd64/Packages.gz"):
        stanzas += gzip.decompress((dest / rel).read_bytes()).count(b"\nPackage: ") + 1
    assert estimate["packages"] == stanzas


def test_toml_sources_with_env_token(world: World, apt_up: AptUpstream, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    config = tmp_path / "mirrors.toml"
    config.write_text(
        "[[mirrors]]\nname = \"esm\"\nregistry = \"apt\"\n"
        f"dest = \"{dest}\"\narch = [\"amd64\"]\n"
        "[[mirrors.sources]]\n"
        f"url = \"http://bearer:${{ESM_TOKEN}}@127.0.0.1:{apt_up.server.port}/esm/\"\n"
        "suite = \"jammy\"\ncomponents = [\"main\"]\n"
        f"signed_by = \"{world.key.keyring}\"\n")
    result = run_cli("run", "--config", config, "--json", env={"ESM_TOKEN": TOKEN})
    assert result.code == 0, result.stderr
    got = files_under(dest)
    assert got["127.0.0.1/esm/pool/main/hello_1.0_amd64.deb"] == world.esm.files()[
        "pool/main/hello_1.0_amd64.deb"]
    assert_no_token(result, dest)
    # a wrong token: one clear line, no token in it
    bad = run_cli("run", "--config", config, env={"ESM_TOKEN": "wrongTokenValue1"})
    assert bad.code == 1 and "401" in bad.stderr and "wrongTokenValue1" not in bad.stderr


def test_colliding_sources_refused(apt_up: AptUpstream, tmp_path: Path) -> None:
    listing = tmp_path / "mirror.list"
    listing.write_text(f"deb {apt_up.url}/debian stable main\n"
                       "deb http://127.0.0.1:1/debian stable main\n")
    result = run_cli("run", "apt", "--mirror-list", listing, "--dest", tmp_path / "m")
    assert result.code == 1
    assert "would both be mirrored into 127.0.0.1/debian/" in result.stderr
    assert "mirror.list:2" in result.stderr
    assert not (tmp_path / "m" / "127.0.0.1").exists()


def test_mirror_path_when_no_dest(world: World, apt_up: AptUpstream, tmp_path: Path) -> None:
    listing = write_list(tmp_path, apt_up, world.key.keyring,
                         extra=f"set base_path {tmp_path}/spool\n")
    result = run_cli("run", "apt", "--mirror-list", listing, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert (tmp_path / "spool/mirror/127.0.0.1/debian/dists/stable/InRelease").is_file()
    assert not (tmp_path / "mirror").exists()


def test_status_reports_disk_usage(world: World, apt_up: AptUpstream, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    listing = write_list(tmp_path, apt_up, world.key.keyring)
    assert run_cli("run", "apt", "--mirror-list", listing, "--dest", dest).code == 0
    result = run_cli("status", dest, "--json")
    assert result.code == 0, result.stderr
    usage = json.loads(result.stdout)
    files = files_under(dest)
    assert usage["files"] == len(files)
    assert usage["bytes"] == sum(len(b) for b in files.values())
    assert usage["top"] == {"127.0.0.1": {"files": len(files), "bytes": usage["bytes"]}}
    debs = [b for p, b in files.items() if p.endswith(".deb")]
    assert usage["kinds"]["deb"] == {"files": len(debs), "bytes": sum(map(len, debs))}
    text = run_cli("status", dest)
    assert text.code == 0 and "127.0.0.1" in text.stdout and "index" in text.stdout
    assert hashlib.sha256(b"").hexdigest() not in text.stdout
