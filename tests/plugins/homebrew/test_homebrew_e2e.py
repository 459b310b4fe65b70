"""``mirrorkit run homebrew`` end to end, against the fake upstream of fake_brew.py.

The catalog covers: ``@`` and ``+`` in names (openssl@3, libsigc++@2), a revision (openssl@3),
a rebuild (libsigc++@2), an ``all`` bottle (ca-certificates), a tag served by an older macOS
bottle (hello on arm64_tahoe), a formula with no bottle on one tag (mac-tool on Linux), and
wget's dependencies: runtime (openssl@3 -> ca-certificates, libidn2), build and test only
(pkgconf, test-helper: never mirrored), and uses_from_macos (zlib: Linux only; libsigc++@2
since tahoe: on Linux and arm64_sequoia, not on arm64_tahoe).
"""

from __future__ import annotations

import email.utils
import json
import os
from pathlib import Path

from tests.plugins.homebrew.conftest import TAGS
from tests.plugins.homebrew.fake_brew import FakeHomebrew, Formula, key_args
from tests.support.cli import Result, run_cli
from tests.support.trees import files

API_FILES = [
    "api/formula.jws.json", "api/cask.jws.json", "api/formula_tap_migrations.jws.json",
    "api/cask_tap_migrations.jws.json",
    *(f"api/internal/packages.{tag}.jws.json" for tag in TAGS),
]
ROOTS = ["wget", "hello", "mac-tool"]

# (formula, bottle tag) for every bottle a client on TAGS installs for ROOTS
EXPECTED_BOTTLES = [
    ("wget", "arm64_tahoe"), ("wget", "arm64_sequoia"), ("wget", "x86_64_linux"),
    ("openssl@3", "arm64_tahoe"), ("openssl@3", "arm64_sequoia"), ("openssl@3", "x86_64_linux"),
    ("ca-certificates", "all"),
    ("libidn2", "arm64_tahoe"), ("libidn2", "arm64_sequoia"), ("libidn2", "x86_64_linux"),
    ("libsigc++@2", "arm64_sequoia"), ("libsigc++@2", "x86_64_linux"),
    ("zlib", "x86_64_linux"),
    ("hello", "arm64_sequoia"), ("hello", "x86_64_linux"),
    ("mac-tool", "arm64_tahoe"), ("mac-tool", "arm64_sequoia"),
]
EXPECTED_FLAT = [
    "wget-1.25.0.arm64_tahoe.bottle.tar.gz", "wget-1.25.0.arm64_sequoia.bottle.tar.gz",
    "wget-1.25.0.x86_64_linux.bottle.tar.gz",
    "openssl@3-3.5.0_1.arm64_tahoe.bottle.tar.gz", "openssl@3-3.5.0_1.arm64_sequoia.bottle.tar.gz",
    "openssl@3-3.5.0_1.x86_64_linux.bottle.tar.gz",
    "ca-certificates-2025-01-01.all.bottle.tar.gz",
    "libidn2-2.3.8.arm64_tahoe.bottle.tar.gz", "libidn2-2.3.8.arm64_sequoia.bottle.tar.gz",
    "libidn2-2.3.8.x86_64_linux.bottle.tar.gz",
    "libsigc++@2-2.12.1.arm64_sequoia.bottle.1.tar.gz",
    "libsigc++@2-2.12.1.x86_64_linux.bottle.1.tar.gz",
    "zlib-1.3.1.x86_64_linux.bottle.tar.gz",
    "hello-2.12.2.arm64_sequoia.bottle.tar.gz", "hello-2.12.2.x86_64_linux.bottle.tar.gz",
    "mac-tool-1.0.arm64_tahoe.bottle.tar.gz", "mac-tool-1.0.arm64_sequoia.bottle.tar.gz",
]
EXPECTED_MANIFESTS = [
    "wget/manifests/1.25.0", "openssl/3/manifests/3.5.0_1",
    "ca-certificates/manifests/2025-01-01", "libidn2/manifests/2.3.8",
    "libsigcxx/2/manifests/2.12.1-1", "zlib/manifests/1.3.1", "hello/manifests/2.12.2",
    "mac-tool/manifests/1.0",
]


def mirror(brew: FakeHomebrew, dest: Path | str, *extra: str, roots: list[str] = ROOTS
           ) -> Result:
    args: list[str] = ["run", "homebrew", "--dest", str(dest), "--json",
                       "--api-url", f"{brew.api.url}/api",
                       "--registry-url", f"{brew.api.url}/v2/homebrew/core",
                       "--retries", "1", "--backoff-initial", "0", "--backoff-max", "0",
                       *key_args()]
    for tag in TAGS:
        args += ["--tag", tag]
    for name in roots:
        args += ["--formula", name]
    return run_cli(*args, *extra)


def blob(f: Formula, tag: str) -> str:
    return f"v2/homebrew/core/{f.image()}/blobs/sha256:{f.sha(tag)}"


def expected_files(brew: FakeHomebrew, *, flat: bool = True) -> set[str]:
    out = set(API_FILES)
    out |= {blob(brew.formulae[n], t) for n, t in EXPECTED_BOTTLES}
    out |= {f"v2/homebrew/core/{m}" for m in EXPECTED_MANIFESTS}
    if flat:
        out |= {f"v2/homebrew/core/{n}" for n in EXPECTED_FLAT}
    return out


def test_mirror_has_exactly_what_clients_request(brew: FakeHomebrew, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    result = mirror(brew, dest, "--flat-bottles")
    assert result.code == 0, result.stderr
    assert result.json["status"] == "ok"
    assert files(dest) == expected_files(brew)

    for path in API_FILES:  # byte-identical, with upstream's Last-Modified as mtime
        res = brew.api.files[f"/{path}"]
        assert (dest / path).read_bytes() == res.body, path
        assert res.last_modified is not None
        assert os.stat(dest / path).st_mtime == res.last_modified
        header = email.utils.formatdate(res.last_modified, usegmt=True)
        assert email.utils.parsedate_to_datetime(header).timestamp() == res.last_modified
    for m in EXPECTED_MANIFESTS:
        assert (dest / f"v2/homebrew/core/{m}").read_bytes() == brew.manifests[
            f"/v2/homebrew/core/{m}"]
    for name, tag in EXPECTED_BOTTLES:
        f = brew.formulae[name]
        assert (dest / blob(f, tag)).read_bytes() == f.bottle_bytes(tag)
    for flat in EXPECTED_FLAT:  # hard links to the blobs, not copies
        name = next(n for n, _ in EXPECTED_BOTTLES if flat.startswith(f"{n}-"))
        f = brew.formulae[name]
        tag = flat.removeprefix(f"{name}-{f.pkg_version}.").split(".bottle")[0]
        assert os.path.samefile(dest / "v2/homebrew/core" / flat, dest / blob(f, tag)), flat

    # the registry demanded a token; the CDN never saw an Authorization header
    token_requests = brew.api.requests("/token")
    assert token_requests, "the 401 challenge was not answered"
    registry = brew.api.requests("/v2/")
    assert any(r.headers.get("Authorization") == "Bearer QQ==" for r in registry)
    cdn = brew.cdn.requests("/blobs/")
    assert len(cdn) == len(EXPECTED_BOTTLES)
    assert all("Authorization" not in r.headers for r in cdn)
    assert not any(r.headers.get("Authorization") for r in brew.api.requests("/api/"))
    # manifests were asked for as OCI image indexes
    manifests = [r for r in registry if "/manifests/" in r.path]
    assert manifests and all("image.index" in r.headers.get("Accept", "") for r in manifests)

    verify = run_cli("verify", dest)
    assert verify.code == 0, verify.stderr


def test_noop_rerun_asks_for_no_blob_and_no_manifest(brew: FakeHomebrew, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(brew, dest, "--flat-bottles").code == 0
    before = {p: os.stat(dest / p).st_mtime for p in files(dest)}
    brew.api.clear_log()
    brew.cdn.clear_log()
    again = mirror(brew, dest, "--flat-bottles")
    assert again.code == 0, again.stderr
    report = again.json
    assert report["downloaded"] == 0 and report["removed"] == 0
    assert brew.cdn.requests() == []
    assert brew.api.requests("/v2/") == []
    api_requests = brew.api.requests("/api/")
    assert len(api_requests) == len(API_FILES)  # one conditional request each
    assert all("If-None-Match" in r.headers or "If-Modified-Since" in r.headers
               for r in api_requests)
    assert {p: os.stat(dest / p).st_mtime for p in files(dest)} == before


def test_dependency_switches(brew: FakeHomebrew, tmp_path: Path) -> None:
    alias = mirror(brew, tmp_path / "a", "--no-deps", roots=["openssl"])  # an alias
    assert alias.code == 0, alias.stderr
    got = {p for p in files(tmp_path / "a") if "/blobs/" in p}
    f = brew.formulae["openssl@3"]
    assert got == {blob(f, t) for t in TAGS}

    unknown = mirror(brew, tmp_path / "b", roots=["no-such-formula"])
    assert unknown.code == 1
    assert "--formula no-such-formula: no such formula" in unknown.stderr
    assert files(tmp_path / "b") == set()


def test_upstream_update_adds_changes_and_removes(brew: FakeHomebrew, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(brew, dest, "--flat-bottles").code == 0
    old_idn = brew.formulae["libidn2"]
    old_blobs = {blob(old_idn, t) for t in TAGS}
    # change: libidn2 gets a new version; add: wget now needs libunistring; remove: zlib
    brew.formulae["libidn2"] = Formula("libidn2", "2.3.9", TAGS)
    brew.formulae["libunistring"] = Formula("libunistring", "1.3", TAGS)
    brew.formulae["wget"].deps.append("libunistring")
    brew.formulae["wget"].uses_from_macos = [("libsigc++@2", "tahoe")]
    del brew.formulae["zlib"]
    brew.publish()
    result = mirror(brew, dest, "--flat-bottles")
    assert result.code == 0, result.stderr
    have = files(dest)
    new_idn, lus = brew.formulae["libidn2"], brew.formulae["libunistring"]
    assert {blob(new_idn, t) for t in TAGS} <= have
    assert {blob(lus, t) for t in TAGS} <= have
    assert not old_blobs & have
    assert not any(p.startswith("v2/homebrew/core/zlib") for p in have)
    assert "v2/homebrew/core/libidn2/manifests/2.3.9" in have
    assert "v2/homebrew/core/libidn2/manifests/2.3.8" not in have
    assert "v2/homebrew/core/libidn2-2.3.9.x86_64_linux.bottle.tar.gz" in have
    for path in API_FILES:
        assert (dest / path).read_bytes() == brew.api.files[f"/{path}"].body
    assert result.json["removed"] >= 3 + 3 + 1 + 1 + 1  # blobs, flat links, manifests of both
    assert run_cli("verify", dest).code == 0


def test_corrupt_bottle_keeps_previous_snapshot(brew: FakeHomebrew, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(brew, dest).code == 0
    served = {p: (dest / p).read_bytes() for p in API_FILES}
    brew.formulae["libidn2"] = Formula("libidn2", "2.3.9", TAGS)
    brew.publish()
    bad = brew.formulae["libidn2"].sha("x86_64_linux")
    brew.cdn.fault(f"/blobs/{bad}", "corrupt", times=10)
    result = mirror(brew, dest)
    assert result.code == 1
    report = result.json
    assert report["status"] == "failed"
    assert any(e["path"] == f"v2/homebrew/core/libidn2/blobs/sha256:{bad}"
               and "sha256 mismatch" in e["error"] for e in report["errors"])
    # the previous index is still what clients get, and everything it names is there
    assert {p: (dest / p).read_bytes() for p in API_FILES} == served
    assert (dest / "v2/homebrew/core/libidn2/manifests/2.3.8").exists()
    assert not (dest / "v2/homebrew/core/libidn2/manifests/2.3.9").exists()
    old = Formula("libidn2", "2.3.8", TAGS)
    assert all((dest / blob(old, t)).exists() for t in TAGS)
    assert run_cli("verify", dest).code == 0


def test_plan_estimates_size_without_writing(brew: FakeHomebrew, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    args = ["plan", "homebrew", "--dest", str(dest), "--json",
            "--api-url", f"{brew.api.url}/api",
            "--registry-url", f"{brew.api.url}/v2/homebrew/core", *key_args()]
    for tag in TAGS:
        args += ["--tag", tag]
    for name in ROOTS:
        args += ["--formula", name]
    result = run_cli(*args)
    assert result.code == 0, result.stderr
    report = result.json
    total = sum(len(brew.formulae[n].bottle_bytes(t)) for n, t in EXPECTED_BOTTLES)
    assert report["bytes_to_download"] == total
    assert report["unknown_sizes"] == 0
    assert not dest.exists()
    assert brew.cdn.requests() == []


def test_bad_tag_is_one_clear_line(brew: FakeHomebrew, tmp_path: Path) -> None:
    result = run_cli("run", "homebrew", "--dest", tmp_path / "m", "--tag", "Sequoia!")
    assert result.code == 2
    assert "--tags" in result.stderr or "--tag" in result.stderr
    assert "not a bottle tag" in result.stderr
    assert not (tmp_path / "m").exists()


def test_manifest_missing_a_bottle_fails_the_run(brew: FakeHomebrew, tmp_path: Path) -> None:
    """brew 6 refuses a bottle its manifest does not name: such a manifest is a failure."""
    dest = tmp_path / "m"
    assert mirror(brew, dest).code == 0
    served = {p: (dest / p).read_bytes() for p in API_FILES}
    brew.formulae["libidn2"] = Formula("libidn2", "2.3.9", TAGS)
    brew.publish()
    path = "/v2/homebrew/core/libidn2/manifests/2.3.9"
    index = json.loads(brew.manifests[path])
    index["manifests"] = index["manifests"][:-1]  # upstream forgot one platform
    brew.manifests[path] = json.dumps(index).encode()
    result = mirror(brew, dest)
    assert result.code == 1
    errors = result.json["errors"]
    assert any(e["path"] == path.lstrip("/") and "does not name bottle" in e["error"]
               for e in errors), errors
    assert {p: (dest / p).read_bytes() for p in API_FILES} == served
