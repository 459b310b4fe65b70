"""What a Homebrew mirror remembers between runs, and what a re-run therefore asks for.

Through the CLI, into a bucket (moto over HTTP) and into a local tree:

- a re-run with nothing new keeps the previous snapshot as it is: it asks upstream for the
  API files (conditionally) and nothing else, and the bucket stays byte for byte the same;
- which bottles each mirrored manifest names is kept with the snapshot (in the bucket too),
  so after one formula's version bump only that formula's manifest and bottles are asked for;
- a changed input re-plans what changed: another formula, another key (the unchanged files
  are checked against it again, and refused), a new brew release with the API unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.git.gitutil import git, isolated_git_env
from tests.plugins.homebrew.conftest import TAGS
from tests.plugins.homebrew.fake_brew import FakeHomebrew, Formula
from tests.plugins.homebrew.test_homebrew_e2e import API_FILES, mirror
from tests.support.cli import Result
from tests.support.jws_signer import public_key_file
from tests.support.s3 import bucket_objects, new_bucket
from tests.support.trees import files, tree

#: what the core logs (at -v) when a run keeps the previous snapshot as its plan
KEPT = "every input of the plan is as the last run read it"


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    return new_bucket("brew")


def manifests_asked(brew: FakeHomebrew) -> set[str]:
    return {r.path for r in brew.api.requests("/v2/") if "/manifests/" in r.path}


def registry_requests(brew: FakeHomebrew) -> list[str]:
    """Every request to the registry and its token service (paths and queries)."""
    return [r.path for r in brew.api.requests("/v2/")] + [
        r.path for r in brew.api.requests("/token")]


def only_conditional_api_requests(brew: FakeHomebrew) -> None:
    asked = brew.api.requests()
    assert sorted(r.path for r in asked) == sorted(f"/{p}" for p in API_FILES)
    assert all("If-None-Match" in r.headers or "If-Modified-Since" in r.headers for r in asked)
    assert brew.cdn.requests() == []


def bump_libidn2(brew: FakeHomebrew) -> Formula:
    brew.formulae["libidn2"] = Formula("libidn2", "2.3.9", TAGS)
    brew.publish()
    brew.api.clear_log()
    brew.cdn.clear_log()
    return brew.formulae["libidn2"]


def test_unchanged_rerun_into_a_bucket_asks_for_nothing_and_changes_nothing(
        brew: FakeHomebrew, bucket: str) -> None:
    dest = f"s3://{bucket}/homebrew"
    first = mirror(brew, dest, "--flat-bottles")
    assert first.code == 0, first.stderr
    before = bucket_objects(bucket)
    assert f"homebrew/{API_FILES[0]}" in before
    brew.api.clear_log()
    brew.cdn.clear_log()

    again = mirror(brew, dest, "--flat-bottles", "-v")
    assert again.code == 0, again.stderr
    report = again.json
    assert report["downloaded"] == 0 and report["removed"] == 0 and report["failed"] == 0
    assert report["snapshot"] == first.json["snapshot"]
    assert KEPT in again.stderr
    # no manifest, no token, no blob: one conditional request per API file, answered 304
    only_conditional_api_requests(brew)
    assert bucket_objects(bucket) == before


def test_manifest_coverage_lives_in_the_bucket(brew: FakeHomebrew, bucket: str) -> None:
    dest = f"s3://{bucket}/homebrew"
    assert mirror(brew, dest).code == 0
    new = bump_libidn2(brew)

    again = mirror(brew, dest)
    assert again.code == 0, again.stderr
    # the seven other manifests are known, from the last run's state in the bucket, to name
    # every bottle: only libidn2's new manifest is read, only its bottles downloaded
    assert manifests_asked(brew) == {"/v2/homebrew/core/libidn2/manifests/2.3.9"}
    assert all("libidn2" in p for p in registry_requests(brew)), registry_requests(brew)
    assert sorted(r.path.split("?")[0] for r in brew.cdn.requests()) == sorted(
        f"/blobs/{new.sha(t)}" for t in TAGS)


def test_changed_formula_selection_reads_only_what_it_adds(
        brew: FakeHomebrew, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(brew, dest, roots=["hello"]).code == 0
    brew.api.clear_log()
    brew.cdn.clear_log()
    more = mirror(brew, dest, "-v", roots=["hello", "libidn2"])
    assert more.code == 0, more.stderr
    assert KEPT not in more.stderr
    assert manifests_asked(brew) == {"/v2/homebrew/core/libidn2/manifests/2.3.8"}
    assert all("libidn2" in p for p in registry_requests(brew)), registry_requests(brew)
    idn = brew.formulae["libidn2"]
    assert sorted(r.path.split("?")[0] for r in brew.cdn.requests()) == sorted(
        f"/blobs/{idn.sha(t)}" for t in TAGS)
    assert more.json["downloaded"] == 1 + len(TAGS)


def test_another_key_checks_the_unchanged_files_again(
        brew: FakeHomebrew, tmp_path: Path) -> None:
    """The key file's path is the same, its content is not: the files are refused."""
    key = tmp_path / "key.pem"
    shutil.copyfile(public_key_file(), key)
    dest = tmp_path / "m"
    assert mirror(brew, dest, "--api-public-key", str(key)).code == 0
    assert KEPT in mirror(brew, dest, "-v", "--api-public-key", str(key)).stderr
    before = tree(dest)

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    key.write_bytes(other.public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo))
    refused = mirror(brew, dest, "--api-public-key", str(key))
    assert refused.code == 1
    line = next(ln for ln in refused.stderr.splitlines() if "signature" in ln)
    assert ".jws.json" in line and "signature mismatch" in line and str(key) in line
    assert tree(dest) == before


# ------------------------------------------------------------------------- git
def release(work: Path, tag: str, ruby: str, brew: FakeHomebrew) -> None:
    """A brew release naming portable-ruby ``ruby`` (for arm64 macOS and x86_64 Linux)."""
    vendor = work / "Library/Homebrew/vendor"
    vendor.mkdir(parents=True, exist_ok=True)
    (vendor / "portable-ruby-version").write_text(f"{ruby}\n")
    for platform, ruby_tag in (("arm64-darwin", "arm64_big_sur"),
                               ("x86_64-linux", "x86_64_linux")):
        body = f"portable-ruby {ruby} {platform}\n".encode() * 20
        sha = hashlib.sha256(body).hexdigest()
        (vendor / f"portable-ruby-{platform}").write_text(f"ruby_TAG={ruby_tag}\nruby_SHA={sha}\n")
        brew.blob_shas.add(sha)
        brew.cdn.add(f"/blobs/{sha}", body, etag=False)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", f"brew {tag}", cwd=work)
    git("tag", tag, cwd=work)


@pytest.fixture
def brew_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        monkeypatch.delenv(key)
    for key, value in isolated_git_env(tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    work = tmp_path / "brew-work"
    git("init", "-q", "-b", "main", work)
    return work


def test_new_brew_release_with_the_api_unchanged_is_mirrored(
        brew: FakeHomebrew, brew_git: Path, tmp_path: Path) -> None:
    """brew's repository is an input the core does not see by itself: its files are."""
    release(brew_git, "4.6.0", "3.4.4", brew)
    dest = tmp_path / "m"

    def run(*extra: str) -> Result:
        return mirror(brew, dest, "--brew-git", "--brew-git-url", str(brew_git), *extra,
                      roots=["hello"])

    first = run()
    assert first.code == 0, first.stderr
    assert "git/brew.git/info/refs" in files(dest)
    brew.api.clear_log()
    brew.cdn.clear_log()
    noop: Any = run("-v")
    assert noop.code == 0 and KEPT in noop.stderr, noop.stderr
    only_conditional_api_requests(brew)

    release(brew_git, "4.7.0", "3.5.0", brew)  # upstream's API files stay as they are
    newer = run("-v")
    assert newer.code == 0, newer.stderr
    assert KEPT not in newer.stderr
    assert "4.7.0" in (dest / "git/brew.git/info/refs").read_text()
    rubies = {p.name for p in (dest / "v2/homebrew/core/portable-ruby/blobs").iterdir()}
    assert len(rubies) == 2 and all(
        (dest / "v2/homebrew/core/portable-ruby/blobs" / r).read_bytes().startswith(
            b"portable-ruby 3.5.0") for r in rubies)
