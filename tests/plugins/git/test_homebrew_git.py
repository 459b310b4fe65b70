"""End to end: `mirrorkit run homebrew --brew-git --tap ...` mirrors brew and a tap as git
repositories and the portable-ruby bottles brew's newest stable tag names."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins.git.conftest import Upstream as GitUpstream
from tests.plugins.git.gitutil import commit, git, refs_of
from tests.plugins.git.servers import StaticServer
from tests.plugins.homebrew.fake_brew import FakeHomebrew, Formula, key_args
from tests.support.cli import run_cli
from tests.support.upstream import Upstream

TAGS = ["arm64_sequoia", "x86_64_linux"]
PLATFORMS = ("arm64-darwin", "x86_64-darwin", "arm64-linux", "x86_64-linux")
RUBY_TAGS = {"arm64-darwin": "arm64_big_sur", "x86_64-darwin": "ventura",
             "arm64-linux": "arm64_linux", "x86_64-linux": "x86_64_linux"}


def ruby_bottle(version: str, platform: str) -> bytes:
    return f"portable-ruby {version} for {platform}\n".encode() * 50


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def brew_api() -> Iterator[FakeHomebrew]:
    api, cdn = Upstream().start(), Upstream().start()
    try:
        fake = FakeHomebrew(api, cdn, [Formula("hello", "2.12.2", TAGS)], TAGS)
        fake.publish()
        yield fake
    finally:
        api.stop()
        cdn.stop()


def release_brew(work: Path, fake: FakeHomebrew, tag: str, ruby: str) -> None:
    """Commit a brew release naming portable-ruby ``ruby`` (bottles served by the fake)."""
    vendor = "Library/Homebrew/vendor"
    (work / vendor).mkdir(parents=True, exist_ok=True)
    (work / vendor / "portable-ruby-version").write_text(f"{ruby}\n")
    for platform in PLATFORMS:
        body = ruby_bottle(ruby, platform)
        (work / vendor / f"portable-ruby-{platform}").write_text(
            f"ruby_TAG={RUBY_TAGS[platform]}\nruby_SHA={sha(body)}\n")
        fake.blob_shas.add(sha(body))
        fake.cdn.add(f"/blobs/{sha(body)}", body, etag=False)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", f"brew {tag}", cwd=work)
    git("tag", tag, cwd=work)


@pytest.fixture
def brew_repo(upstream_git: GitUpstream, brew_api: FakeHomebrew, tmp_path: Path) -> Path:
    """Homebrew/brew.git (releases 4.5.0 and 4.6.0, a newer unreleased commit, an rc tag)
    and acme/homebrew-tools.git, next to project.git on the git upstream."""
    root = upstream_git.root
    work = tmp_path / "brew-work"
    git("init", "-q", "-b", "main", work)
    release_brew(work, brew_api, "4.5.0", "3.3.7")
    release_brew(work, brew_api, "4.6.0", "3.4.4")
    release_brew(work, brew_api, "4.7.0-rc1", "9.9.9")  # not a stable tag
    commit(work, "Library/Homebrew/vendor/portable-ruby-version", b"8.8.8\n", "unreleased")
    git("clone", "-q", "--bare", work, root / "Homebrew" / "brew.git")
    tap_work = tmp_path / "tap-work"
    git("init", "-q", "-b", "main", tap_work)
    commit(tap_work, "Formula/tool.rb", b"class Tool < Formula; end\n", "tool")
    git("clone", "-q", "--bare", tap_work, root / "acme" / "homebrew-tools.git")
    return work


def test_brew_taps_and_portable_ruby(
    upstream_git: GitUpstream, brew_api: FakeHomebrew, brew_repo: Path, mirror_dir: Path,
    static: StaticServer, tmp_path: Path,
) -> None:
    git_url = upstream_git.server.url
    args = ("run", "homebrew", "--api-url", f"{brew_api.api.url}/api",
            "--registry-url", f"{brew_api.api.url}/v2/homebrew/core", "--tag", TAGS[0],
            "--tag", TAGS[1], "--brew-git", "--brew-git-url", f"{git_url}/Homebrew/brew.git",
            "--tap", "acme/tools", "--tap-base-url", git_url, "--flat-bottles",
            "--dest", mirror_dir, *key_args(), "--json")
    res = run_cli(*args)
    assert res.code == 0, res.stderr

    # brew and the tap clone from the static mirror, with every tag.
    assert refs_of(f"{static.url}/git/brew.git") == refs_of(f"{git_url}/Homebrew/brew.git")
    clone = tmp_path / "brew-clone"
    git("clone", "-q", f"{static.url}/git/brew.git", clone)
    assert "4.6.0" in git("tag", cwd=clone).split()
    tap = tmp_path / "tap-clone"
    git("clone", "-q", f"{static.url}/git/taps/acme/homebrew-tools.git", tap)
    assert (tap / "Formula" / "tool.rb").is_file()

    # portable-ruby of brew 4.6.0 (the newest stable tag), for the two selected platforms.
    blobs = mirror_dir / "v2/homebrew/core/portable-ruby/blobs"
    expected = {f"sha256:{sha(ruby_bottle('3.4.4', p))}": ruby_bottle("3.4.4", p)
                for p in ("arm64-darwin", "x86_64-linux")}
    assert {p.name: p.read_bytes() for p in blobs.iterdir()} == expected
    flat = mirror_dir / "v2/homebrew/core/portable-ruby-3.4.4.arm64_big_sur.bottle.tar.gz"
    assert flat.read_bytes() == ruby_bottle("3.4.4", "arm64-darwin")
    assert (mirror_dir / "api" / "formula.jws.json").is_file()  # the rest of the mirror

    verified = run_cli("verify", mirror_dir)
    assert verified.code == 0, verified.stderr

    # A plan with nothing new removes nothing: brew.git, the tap and portable-ruby are kept.
    planned = run_cli("plan", *args[1:-1], "--json")
    assert planned.code == 0, planned.stderr
    assert planned.json["removed"] == 0 and planned.json["downloaded"] == 0, planned.json

    # A new brew release: its portable-ruby replaces the old one, brew.git follows.
    release_brew(brew_repo, brew_api, "4.7.0", "3.5.0")
    git("push", "-q", "--tags", upstream_git.root / "Homebrew" / "brew.git", "HEAD:main",
        cwd=brew_repo)
    res = run_cli(*args)
    assert res.code == 0, res.stderr
    assert sorted(p.name for p in blobs.iterdir()) == sorted(
        f"sha256:{sha(ruby_bottle('3.5.0', p))}" for p in ("arm64-darwin", "x86_64-linux"))
    git("fetch", "-q", "--tags", cwd=clone)
    assert "4.7.0" in git("tag", cwd=clone).split()


def test_bad_tap_name_is_one_line(tmp_path: Path) -> None:
    res = run_cli("run", "homebrew", "--tap", "no-slash", "--dest", tmp_path / "m")
    assert res.code == 2
    assert "no-slash" in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
