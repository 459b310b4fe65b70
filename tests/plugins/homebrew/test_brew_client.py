"""The real brew 4.3.0 against mirrors made by ``mirrorkit run homebrew`` (through the CLI)
from the fake upstream, served by a plain static web server.

brew is unmodified except for its API key (the tests' own; see tests/support/brew_client.py)
and runs with the environment docs/homebrew.md tells users to set (read from the docs).
What is asserted is what brew says and does: its own messages, the files it pours, the
programs it installs.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from mirrorkit.plugins.homebrew.signature import SignatureError, load_api_key, verify_jws
from tests.plugins.homebrew.client_docs import (
    as_pattern,
    cache_commands,
    environment,
    sample_output,
)
from tests.plugins.homebrew.fake_brew import (
    FakeHomebrew,
    Formula,
    cask_catalog,
    key_args,
)
from tests.plugins.homebrew.test_signature import CASES
from tests.support.brew_client import BrewClient, BrewPrefix, BrewResult
from tests.support.cli import run_cli
from tests.support.jws_signer import public_key_file
from tests.support.static_server import StaticSite, serve_directory
from tests.support.upstream import Upstream

pytestmark = pytest.mark.slow

#: the bottle tag of this machine (what brew installs here)
HOST = {"x86_64": "x86_64_linux", "aarch64": "arm64_linux"}[platform.machine()]
TAGS = [HOST, "arm64_sequoia", "sonoma"]
OCI_ENV = "Environment, brew 4.x, 5.x and 6.x"
FLAT_ENV = "Environment, flat layout"
CACHE = "Download cache: sources and casks"


def catalog() -> list[Formula]:
    """openssl@3 needs ca-certificates (an ``all`` bottle); hello stands alone; mac-tool has
    no bottle for this machine (brew builds it from source)."""
    return [
        Formula("openssl@3", "3.5.0", [HOST, "arm64_sequoia"], revision=1,
                deps=["ca-certificates"]),
        Formula("ca-certificates", "2025-01-01", ["all"]),
        Formula("hello", "2.12.2", [HOST, "arm64_sequoia"]),
        Formula("mac-tool", "1.0", ["arm64_sequoia"]),
    ]


@dataclass
class Mirror:
    upstream: FakeHomebrew
    dest: Path
    site: StaticSite

    def run(self, *extra: str) -> None:
        """``mirrorkit run homebrew`` into ``dest``, as an operator runs it."""
        args: list[str] = ["run", "homebrew", "--dest", str(self.dest),
                           "--api-url", f"{self.upstream.api.url}/api",
                           "--registry-url", f"{self.upstream.api.url}/v2/homebrew/core",
                           "--ruby-source-url", self.upstream.raw_url(), *key_args(), *extra]
        for tag in TAGS:
            args += ["--tag", tag]
        result = run_cli(*args)
        assert result.code == 0, result.stderr


@contextmanager
def serve_mirror(root: Path, *extra: str) -> Iterator[Mirror]:
    """A fake upstream with the catalog above, mirrored once, served by a static server."""
    servers = [Upstream().start() for _ in range(3)]
    try:
        fake = FakeHomebrew(*servers[:2], catalog(), TAGS, src=servers[2],
                            casks=cask_catalog())
        fake.publish()
        dest = root / "mirror"
        with serve_directory(dest) as site:
            mirror = Mirror(fake, dest, site)
            mirror.run(*extra)
            yield mirror
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    """Both layouts, the sources of the formulae and the tool-app cask."""
    with serve_mirror(tmp_path_factory.mktemp("mirror"), "--formula", "openssl@3",
                      "--formula", "hello", "--formula", "mac-tool", "--flat-bottles",
                      "--sources", "--cask", "tool-app") as served:
        yield served


def client(brew_client: BrewClient, root: Path, site: StaticSite, title: str) -> BrewPrefix:
    """A new client using the mirror at ``site`` with the environment the docs give."""
    prefix = brew_client.prefix(root)
    prefix.env = environment(title, site.url)
    return prefix


def ok(result: BrewResult) -> str:
    assert result.code == 0, result.output
    assert "Traceback" not in result.output, result.output
    return result.output


# ---------------------------------------------------------------------------- installs
def test_install_with_a_dependency_from_the_oci_layout(
        brew_client: BrewClient, mirror: Mirror, tmp_path: Path) -> None:
    brew = client(brew_client, tmp_path, mirror.site, OCI_ENV)
    out = ok(brew.run("install", "openssl@3"))
    assert "==> Installing dependencies for openssl@3: ca-certificates" in out
    assert "==> Pouring ca-certificates--2025-01-01.all.bottle.tar.gz" in out
    assert f"==> Pouring openssl@3--3.5.0_1.{HOST}.bottle.tar.gz" in out
    assert f"{brew.prefix}/Cellar/openssl@3/3.5.0_1: 3 files" in out
    # what it installed is the bottle of this platform, linked into the prefix
    assert ok(brew.run("list", "--versions")).split("\n")[:2] == [
        "ca-certificates 2025-01-01", "openssl@3 3.5.0_1"]
    program = brew.shell("openssl@3")
    assert program.stdout.strip() == f"openssl@3 3.5.0_1 from the {HOST} bottle"
    # every request went to the mirror's OCI tree: manifests, then blobs
    served = mirror.site.requests()
    assert any("/v2/homebrew/core/openssl/3/manifests/3.5.0_1 " in r for r in served)
    assert any("/v2/homebrew/core/ca-certificates/blobs/sha256:" in r for r in served)


def test_install_with_a_dependency_from_the_flat_layout(
        brew_client: BrewClient, mirror: Mirror, tmp_path: Path) -> None:
    brew = client(brew_client, tmp_path, mirror.site, FLAT_ENV)
    out = ok(brew.run("install", "openssl@3"))
    assert (f"==> Downloading {mirror.site.url}/v2/homebrew/core/"
            f"openssl%403-3.5.0_1.{HOST}.bottle.tar.gz") in out
    assert "==> Pouring ca-certificates-2025-01-01.all.bottle.tar.gz" in out
    assert f"==> Pouring openssl@3-3.5.0_1.{HOST}.bottle.tar.gz" in out
    assert brew.shell("openssl@3").stdout.strip() == f"openssl@3 3.5.0_1 from the {HOST} bottle"
    # the receipt came from the bottle itself (no manifest in this layout)
    receipt = json.loads((brew.prefix / "Cellar/openssl@3/3.5.0_1/INSTALL_RECEIPT.json"
                          ).read_text())
    assert receipt["poured_from_bottle"] is True
    assert receipt["runtime_dependencies"][0]["full_name"] == "ca-certificates"


def test_fetch_a_bottle_for_another_tag(brew_client: BrewClient, mirror: Mirror,
                                        tmp_path: Path) -> None:
    brew = client(brew_client, tmp_path, mirror.site, OCI_ENV)
    out = ok(brew.run("fetch", "--bottle-tag", "arm64_sequoia", "hello"))
    hello = mirror.upstream.formulae["hello"]
    sha = hello.sha("arm64_sequoia")
    assert f"==> Downloading {mirror.site.url}/v2/homebrew/core/hello/blobs/sha256:{sha}" in out
    found = re.search(r"^Downloaded to: (\S+--hello--2\.12\.2\.arm64_sequoia\.bottle\.tar\.gz)$",
                      out, re.MULTILINE)
    assert found, out
    assert f"SHA256: {sha}" in out
    assert Path(found.group(1)).read_bytes() == hello.bottle_bytes("arm64_sequoia")


# ---------------------------------------------------------------------------- the cache tree
def test_offline_build_from_source_uses_the_seeded_cache(
        brew_client: BrewClient, mirror: Mirror, tmp_path: Path) -> None:
    """The vendors' host is down; brew takes the sources from the cache the docs' commands
    filled from the mirror, and checks them."""
    fake = mirror.upstream
    seeded = client(brew_client, tmp_path / "seeded", mirror.site, OCI_ENV)
    bare = client(brew_client, tmp_path / "bare", mirror.site, OCI_ENV)
    brew_client.reach(mirror.dest)
    ok(seeded.shell(cache_commands(CACHE, mirror.dest)))
    fake.vendor_down = True
    try:
        out = ok(seeded.run("fetch", "--build-from-source", "hello"))
        no_bottle = ok(seeded.run("fetch", "mac-tool"))  # no bottle here: its source
        refused = bare.run("fetch", "--build-from-source", "hello")
    finally:
        fake.vendor_down = False

    hello, tool = fake.formulae["hello"], fake.formulae["mac-tool"]
    doc = [line.replace("https://ftp.gnu.org/gnu/hello", f"{fake.src.url}/sources")
           .replace("/home/me/.cache/Homebrew", str(seeded.cache)) for line in
           sample_output(CACHE)]
    patterns = [as_pattern(line, sha256="[0-9a-f]{64}") for line in doc]
    lines = out.splitlines()
    at = 0
    for pattern in patterns:  # the documented session, line by line, in order
        at = next((i for i in range(at, len(lines)) if pattern.fullmatch(lines[i])), -1)
        assert at >= 0, f"{pattern.pattern!r} not in brew's output:\n{out}"
    assert f"SHA256: {hashlib.sha256(hello.source_bytes()).hexdigest()}" in out
    assert "--mac-tool-1.0.tar.gz" in no_bottle and "Already downloaded:" in no_bottle
    assert f"SHA256: {hashlib.sha256(tool.source_bytes()).hexdigest()}" in no_bottle
    # the same fetch without the seeded cache: the vendor is out of reach
    assert refused.code != 0
    assert "Failed to download resource" in refused.output, refused.output


def test_cache_names_are_the_ones_brew_computes(brew_client: BrewClient, mirror: Mirror,
                                                tmp_path: Path) -> None:
    """brew's own code names every file of the mirror's downloads/ tree: the sources, the
    Ruby files, the cask for each macOS platform; and the tricky URLs of test_downloads."""
    from tests.plugins.homebrew.test_downloads import BASENAMES

    brew = client(brew_client, tmp_path, mirror.site, OCI_ENV)
    script = tmp_path / "home" / "names.rb"
    urls = [url for url, _ in BASENAMES]
    script.write_text(BREW_NAMES_SCRIPT.replace("@URLS@", json.dumps(urls)))
    brew_client.own(script)
    mirror.upstream.vendor_down = True  # offline, as a client inside the air gap
    try:
        out = ok(brew.run("ruby", str(script)))
    finally:
        mirror.upstream.vendor_down = False
    names = json.loads(out.strip().splitlines()[-1])
    mirrored = sorted(p.name for p in (mirror.dest / "downloads").iterdir())
    assert sorted(set(names["formulae"] + names["casks"])) == mirrored
    assert len(names["casks"]) == 2  # arm64 (the default) and Intel (a variation)
    expected = [f"{hashlib.sha256(url.encode()).hexdigest()}--{base}" for url, base in BASENAMES]
    assert names["urls"] == expected


BREW_NAMES_SCRIPT = r'''
require "json"
require "formula"
require "api"
require "download_strategy"
require "cask/cask_loader"
require "cask/download"

formulae = %w[openssl@3 ca-certificates hello mac-tool].flat_map do |name|
  f = Formulary.factory(name)
  # the Ruby file, as Homebrew::API::Formula.source_download asks for it
  tap = f.tap&.full_name || "Homebrew/homebrew-core"
  head = f.tap_git_head
  ruby = Homebrew::API::Download.new(
    "https://raw.githubusercontent.com/#{tap}/#{head}/#{f.ruby_source_path}",
    f.ruby_source_checksum,
    cache: Homebrew::API::HOMEBREW_CACHE_API_SOURCE/"#{tap}/#{head}/Formula",
  )
  [f.stable.downloader.cached_location.basename.to_s,
   ruby.downloader.cached_location.basename.to_s]
end
casks = [[:sonoma, :arm], [:sonoma, :intel]].map do |os, arch|
  Homebrew::SimulateSystem.with(os:, arch:) do
    cask = Cask::CaskLoader.load("tool-app")
    Cask::Download.new(cask).downloader.cached_location.basename.to_s
  end
end
urls = JSON.parse('@URLS@').map do |url|
  CurlDownloadStrategy.new(url, "x", "1.0").cached_location.basename.to_s
end
puts JSON.generate({ "formulae" => formulae, "casks" => casks, "urls" => urls })
'''


# ---------------------------------------------------------------------------- signatures
def test_brew_agrees_with_the_mirrors_signature_verdicts(
        brew_client: BrewClient, mirror: Mirror, tmp_path: Path) -> None:
    """Each document of test_signature.py's rules, judged by brew's own
    ``verify_and_parse_jws`` (with the tests' key in its tree) and by the mirror."""
    brew = client(brew_client, tmp_path, mirror.site, OCI_ENV)
    docs = tmp_path / "home" / "docs.json"
    docs.write_text(json.dumps({case: doc for case, doc, _ in CASES}))
    script = tmp_path / "home" / "verify.rb"
    script.write_text(BREW_VERIFY_SCRIPT.replace("@DOCS@", str(docs)))
    brew_client.own(tmp_path / "home")
    verdicts = json.loads(ok(brew.run("ruby", str(script))).strip().splitlines()[-1])
    key = load_api_key(public_key_file())
    for case, doc, _ in CASES:
        try:
            verify_jws(doc, key)
            ours = "ok"
        except SignatureError as exc:
            ours = str(exc)
        theirs = verdicts[case]
        if theirs.startswith("raised "):  # brew itself fails on it: refused either way
            assert ours != "ok", (case, theirs)
        else:
            assert ours == theirs, (case, ours, theirs)


BREW_VERIFY_SCRIPT = r'''
require "json"
require "api"
docs = JSON.parse(File.read("@DOCS@"))
out = docs.to_h do |name, doc|
  verdict = begin
    ok, reason = Homebrew::API.send(:verify_and_parse_jws, doc)
    ok ? "ok" : reason
  rescue => e
    "raised #{e.class}"
  end
  [name, verdict]
end
puts JSON.generate(out)
'''


def test_a_tampered_api_file_never_reaches_brew(brew_client: BrewClient, tmp_path: Path) -> None:
    """Upstream serves a formula.jws.json whose payload was changed: the mirror refuses it,
    so brew goes on installing what the last good run published."""
    with serve_mirror(tmp_path / "m", "--formula", "hello") as mirror:
        brew = client(brew_client, tmp_path / "c", mirror.site, OCI_ENV)
        path = "/api/formula.jws.json"
        doc = json.loads(mirror.upstream.api.files[path].body)
        doc["payload"] = doc["payload"].replace('"2.12.2"', '"6.6.6"')
        mirror.upstream.api.add(path, json.dumps(doc).encode(), last_modified=2e9)
        result = run_cli("run", "homebrew", "--dest", mirror.dest, "--formula", "hello",
                         "--api-url", f"{mirror.upstream.api.url}/api",
                         "--registry-url", f"{mirror.upstream.api.url}/v2/homebrew/core",
                         *key_args(), *(a for t in TAGS for a in ("--tag", t)))
        assert result.code == 1 and "signature mismatch" in result.stderr
        out = ok(brew.run("install", "hello"))
        assert f"==> Pouring hello--2.12.2.{HOST}.bottle.tar.gz" in out
        # the file brew would have refused (its own words), had the mirror passed it on
        (mirror.dest / "api" / "formula.jws.json").write_bytes(json.dumps(doc).encode())
        shutil.rmtree(brew.cache / "api")
        refused = brew.run("info", "hello")
        assert refused.code != 0
        assert "Failed to verify integrity (signature mismatch)" in refused.output


# ---------------------------------------------------------------------------- over time
def test_an_upstream_update_reaches_brew_after_the_next_run(brew_client: BrewClient,
                                                           tmp_path: Path) -> None:
    with serve_mirror(tmp_path / "m", "--formula", "hello") as mirror:
        brew = client(brew_client, tmp_path / "c", mirror.site, OCI_ENV)
        ok(brew.run("install", "hello"))
        mirror.upstream.formulae["hello"] = Formula("hello", "2.12.3", [HOST])
        mirror.upstream.publish()
        shutil.rmtree(brew.cache / "api")
        assert ok(brew.run("outdated")).strip() == ""  # the mirror has not run yet

        mirror.run("--formula", "hello")
        shutil.rmtree(brew.cache / "api")  # the client's copy of the API, made stale
        assert "hello (2.12.2) < 2.12.3" in ok(brew.run("outdated", "--verbose"))
        out = ok(brew.run("upgrade", "hello"))
        assert "hello 2.12.2 -> 2.12.3" in out
        assert f"==> Pouring hello--2.12.3.{HOST}.bottle.tar.gz" in out
        assert brew.shell("hello").stdout.strip() == f"hello 2.12.3 from the {HOST} bottle"


def test_a_corrupted_bottle_in_the_mirror_is_refused_by_brew(brew_client: BrewClient,
                                                            tmp_path: Path) -> None:
    with serve_mirror(tmp_path / "m", "--formula", "hello") as mirror:
        hello = mirror.upstream.formulae["hello"]
        blob = mirror.dest / f"v2/homebrew/core/hello/blobs/sha256:{hello.sha(HOST)}"
        blob.write_bytes(b"\x00" + blob.read_bytes()[1:])  # a disk error, or tampering
        brew = client(brew_client, tmp_path / "c", mirror.site, OCI_ENV)
        result = brew.run("install", "hello")
        assert result.code != 0
        assert "Error: hello: SHA256 mismatch" in result.output, result.output
        assert f"Expected: {hello.sha(HOST)}" in result.output
        assert not (brew.prefix / "Cellar" / "hello").exists()
        verify = run_cli("verify", mirror.dest)  # and the operator's check finds it too
        assert verify.code == 1 and "hello/blobs" in verify.stdout + verify.stderr


def test_a_run_after_an_upstream_removal(brew_client: BrewClient, tmp_path: Path) -> None:
    """Every formula of the tag is mirrored; upstream drops hello; the next run of the same
    tag removes it, and brew no longer offers it while the rest still installs."""
    with serve_mirror(tmp_path / "m") as mirror:
        assert (mirror.dest / "v2/homebrew/core/hello").is_dir()
        del mirror.upstream.formulae["hello"]
        mirror.upstream.publish()
        mirror.run()
        assert not (mirror.dest / "v2/homebrew/core/hello").exists()
        brew = client(brew_client, tmp_path / "c", mirror.site, OCI_ENV)
        missing = brew.run("install", "hello")
        assert missing.code != 0
        assert 'No available formula with the name "hello"' in missing.output
        out = ok(brew.run("install", "openssl@3"))
        assert f"==> Pouring openssl@3--3.5.0_1.{HOST}.bottle.tar.gz" in out
