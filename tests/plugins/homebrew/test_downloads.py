"""``--sources`` and ``--cask``: the ``downloads/`` tree brew takes files from when offline.

Names are written out here by hand for the fake upstream's URLs (``<sha256 of the URL>--``
and the URL's file name); that they are the names brew itself computes is checked with
brew's own code in test_brew_client.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins.homebrew.archives import TAP_GIT_HEAD
from tests.plugins.homebrew.fake_brew import FakeHomebrew, Formula, key_args, serve_fake_homebrew
from tests.support.cli import Result, run_cli
from tests.support.trees import files, tree

TAGS = ["x86_64_linux", "sonoma"]
RAW = f"https://raw.githubusercontent.com/Homebrew/homebrew-core/{TAP_GIT_HEAD}"


@pytest.fixture
def brew() -> Iterator[FakeHomebrew]:
    """The fake upstream, publishing for a Linux tag and an Intel macOS one (whose clients
    get the tool-app cask's other download)."""
    yield from serve_fake_homebrew(TAGS)


def mirror(brew: FakeHomebrew, dest: Path, *extra: str,
           formulae: tuple[str, ...] = ("openssl", "hello")) -> Result:
    args: list[str] = ["run", "homebrew", "--dest", str(dest), "--json",
                       "--api-url", f"{brew.api.url}/api",
                       "--registry-url", f"{brew.api.url}/v2/homebrew/core",
                       "--ruby-source-url", brew.raw_url(), "--retries", "0", *key_args()]
    for tag in TAGS:
        args += ["--tag", tag]
    for name in formulae:
        args += ["--formula", name]
    return run_cli(*args, *extra)


def cached(url: str, basename: str) -> str:
    return f"downloads/{hashlib.sha256(url.encode()).hexdigest()}--{basename}"


def source_files(brew: FakeHomebrew, name: str) -> dict[str, bytes]:
    """The two files ``--sources`` mirrors for a formula: its archive and its Ruby file."""
    f = brew.formulae[name]
    return {
        cached(brew.source_url(f), f"{f.name}-{f.version}.tar.gz"): f.source_bytes(),
        cached(f"{RAW}/Formula/{name[0]}/{name}.rb", f"{name}.rb"): brew.ruby_source(f),
    }


def downloads(dest: Path) -> dict[str, bytes]:
    return {p: (dest / p).read_bytes() for p in files(dest) if p.startswith("downloads/")}


def test_sources_and_casks_in_brews_cache_names(brew: FakeHomebrew, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    result = mirror(brew, dest, "--sources", "--cask", "tool-app")
    assert result.code == 0, result.stderr
    tool = brew.casks["tool-app"]
    expected = {
        # openssl is an alias of openssl@3, which depends on ca-certificates
        **source_files(brew, "openssl@3"), **source_files(brew, "ca-certificates"),
        **source_files(brew, "hello"),
        cached(brew.cask_url(tool.path), "tool-app-1.2.0-arm.zip"): tool.body("default"),
        # the sonoma variation, named by its query as brew does ("file=...zip")
        cached(brew.cask_url(tool.variations["sonoma"]), "tool-app-1.2.0-intel.zip"):
            tool.body("sonoma"),
    }
    assert downloads(dest) == expected
    assert run_cli("verify", dest).code == 0

    # a re-run downloads nothing again
    again = mirror(brew, dest, "--sources", "--cask", "tool-app")
    assert again.code == 0, again.stderr
    assert again.json["downloaded"] == 0

    # a new upstream version: its source replaces the old one
    brew.formulae["hello"] = Formula("hello", "2.12.3", ["x86_64_linux"])
    brew.publish()
    updated = mirror(brew, dest, "--sources", "--cask", "tool-app")
    assert updated.code == 0, updated.stderr
    have = downloads(dest)
    assert cached(brew.source_url(brew.formulae["hello"]), "hello-2.12.3.tar.gz") in have
    assert not any(p.endswith("--hello-2.12.2.tar.gz") for p in have)


def test_without_deps_only_the_named_formulae(brew: FakeHomebrew, tmp_path: Path) -> None:
    result = mirror(brew, tmp_path / "m", "--sources", "--no-deps", formulae=("openssl",))
    assert result.code == 0, result.stderr
    assert downloads(tmp_path / "m") == source_files(brew, "openssl@3")


def test_source_with_a_wrong_checksum_is_not_published(brew: FakeHomebrew,
                                                       tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(brew, dest).code == 0
    before = tree(dest)
    hello = brew.formulae["hello"]
    brew.src.fault(hello.source_path(), "corrupt", times=5)
    result = mirror(brew, dest, "--sources")
    assert result.code == 1
    path = cached(brew.source_url(hello), "hello-2.12.2.tar.gz")
    assert any(e["path"] == path and "sha256 mismatch" in e["error"]
               for e in result.json["errors"]), result.json["errors"]
    after = tree(dest)
    assert path not in after
    assert {p: d for p, d in after.items() if p in before} == before  # what was served stays
    assert {p for p in after if p not in before} <= {
        p for p in after if p.startswith("downloads")}  # verified downloads may be in place


def test_unchecked_cask_needs_allowing(brew: FakeHomebrew, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(brew, dest).code == 0
    before = tree(dest)
    refused = mirror(brew, dest, "--cask", "nightly-app")
    assert refused.code == 1
    line = next(ln for ln in refused.stderr.splitlines() if "nightly-app" in ln)
    assert "sha256 :no_check" in line and "--allow-unchecked-casks" in line
    assert tree(dest) == before

    allowed = mirror(brew, dest, "--cask", "nightly-app", "--allow-unchecked-casks")
    assert allowed.code == 0, allowed.stderr
    cask = brew.casks["nightly-app"]
    path = cached(brew.cask_url(cask.path), "nightly-app.zip")
    assert downloads(dest) == {path: cask.body("default")}
    # nothing to check it against: it is fetched again on every run
    brew.src.clear_log()
    again = mirror(brew, dest, "--cask", "nightly-app", "--allow-unchecked-casks")
    assert again.code == 0, again.stderr
    assert brew.src.requests(cask.path)


def test_latest_and_unknown_casks(brew: FakeHomebrew, tmp_path: Path) -> None:
    latest = mirror(brew, tmp_path / "a", "--cask", "latest-app")
    assert latest.code == 1
    assert "--cask latest-app: its API entry says sha256 :no_check" in latest.stderr
    allowed = mirror(brew, tmp_path / "a", "--cask", "latest-app", "--allow-unchecked-casks")
    assert allowed.code == 0, allowed.stderr
    assert "--cask latest-app: version :latest; brew 4.x never takes" in allowed.stderr
    unknown = mirror(brew, tmp_path / "b", "--cask", "no-such-app")
    assert unknown.code == 1
    assert "--cask no-such-app: no such cask in cask.jws.json" in unknown.stderr
    assert files(tmp_path / "b") == set()


def test_bad_cask_name_is_a_usage_error(brew: FakeHomebrew, tmp_path: Path) -> None:
    result = mirror(brew, tmp_path / "m", "--cask", "../etc")
    assert result.code == 2
    assert "not a cask token" in result.stderr
    assert not (tmp_path / "m").exists()


#: URLs and the basename brew 4.3 gives each offline (the real brew computes the same
#: names for every one of them: test_brew_client.py)
BASENAMES = [
    ("https://example.org/hello-2.12.2.tar.gz", "hello-2.12.2.tar.gz"),
    ("https://example.com/download.php?file=foo-1.0.tar.gz", "foo-1.0.tar.gz"),
    ("https://github.com/o/r/archive/refs/tags/v1.2.3.tar.gz", "v1.2.3.tar.gz"),
    ("https://example.org/dl?id=7&response-content-disposition=attachment%3B%20filename%3D"
     "%22Tool%20App.dmg%22", "Tool App.dmg"),
    ("https://example.org/pkg/1.2.3", "1.2.3"),
    ("https://example.org/a%20b%40c.zip", "a b@c.zip"),
    ("https://example.org/get/app.zip?x=1&y=two+words", "app.zip"),
    ("https://example.org/release/v2.0/", "v2.0"),
    ("https://example.org/", ""),
    ("https://example.org/f.tar.xz#frag", "f.tar.xz"),
    ("https://example.org/a/b.tar.gz/c", "b.tar.gz"),  # the last part with an extension
    ("https://example.org/x.7z", "x.7z"),
    ("https://example.org/tool-1.0.0-linux-amd64", "tool-1.0.0-linux-amd64"),
]


@pytest.mark.parametrize(("url", "basename"), BASENAMES)
def test_cache_names(url: str, basename: str) -> None:
    from mirrorkit.plugins.homebrew.download_cache import cache_name, parse_basename

    assert parse_basename(url) == basename
    assert cache_name(url) == f"{hashlib.sha256(url.encode()).hexdigest()}--{basename}"
