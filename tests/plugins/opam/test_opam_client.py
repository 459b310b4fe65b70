"""opam 2.1, unmodified, uses the mirror served by a plain static server (the standard
library's, as ``python -m http.server``), with the original
archive host (and upstream's repository host) down: ``opam init``, ``update``, ``show``,
``source`` and ``install --download-only`` see only the mirror."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugins.opam.conftest import ADDED, REMOVED, build, stop
from tests.plugins.opam.fake_repo import EXTRA_PATCH, FIX_PATCH, OpamRepo
from tests.plugins.opam.helpers import mirror
from tests.plugins.opam.test_opam_selective import CLOSURE
from tests.support.static_server import StaticSite, serve_directory


@dataclass
class Opam:
    """The opam command line with a root of its own, as a user on the offline side runs it."""

    root: Path

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OPAM") and not k.lower().endswith("_proxy")}
        env.update(OPAMROOT=str(self.root), HOME=str(self.root.parent), OPAMYES="1",
                   OPAMCOLOR="never", OPAMSTATUSLINE="never", OPAMNOENVNOTICE="1",
                   NO_PROXY="127.0.0.1")
        done = subprocess.run(["opam", *args], capture_output=True, text=True, env=env,
                              timeout=300, check=False)
        if check:
            assert done.returncode == 0, f"opam {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def init(self, url: str) -> None:
        """``opam init`` with the mirror as the one repository, and an empty switch."""
        self("init", "--bare", "-n", "--disable-sandboxing", "mirror", url)
        self("update")
        self("switch", "create", "t", "--empty")

    def field(self, package: str, name: str) -> str:
        return self("show", package, "--field", name).stdout.strip()

    def download(self, package: str) -> None:
        """``opam install --download-only``: the package's and its dependencies' sources."""
        self("install", "--download-only", package)


def served(site: StaticSite) -> list[str]:
    """The paths the static server answered 200."""
    return re.findall(r'"GET (\S+) HTTP/1\.\d" 200', "\n".join(site.log))


@dataclass
class Mirrors:
    repo: OpamRepo
    whole: Path
    selective: Path


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirrors]:
    """A whole and a selective mirror of one repository, whose hosts are then stopped."""
    base = tmp_path_factory.mktemp("opam-client")
    repo = build(base / "upstream" / "repo")
    try:
        whole, selective = base / "whole", base / "selective"
        assert mirror(repo, whole).code == 0
        assert mirror(repo, selective, "--package", "app", "--with-deps").code == 0
    finally:
        stop(repo)
    yield Mirrors(repo, whole, selective)


def check_sources(opam: Opam, repo: OpamRepo, labels: set[str], work: Path) -> None:
    """``opam source`` gets each package's sources, every checksum checked by opam."""
    for label in sorted(labels):
        pkg = repo.packages[label]
        if pkg.src is None or not pkg.checksums or pkg.src.startswith("git+"):
            continue
        out = work / label
        # opam keeps what it fetched in a cache of its own: each package from the mirror
        shutil.rmtree(opam.root / "download-cache", ignore_errors=True)
        opam("source", label, "--dir", str(out))
        archive = pkg.archive_of or label
        assert (out / "VERSION").read_text() == f"{archive}\n", label
        if pkg.extra_source:
            assert (out / "extra.patch").read_bytes() == EXTRA_PATCH
        if pkg.extra_files:
            assert (out / "fix.patch").read_bytes() == FIX_PATCH


def test_opam_uses_a_whole_mirror(mirrors: Mirrors, tmp_path: Path) -> None:
    opam = Opam(tmp_path / "root")
    repo = mirrors.repo
    with serve_directory(mirrors.whole) as site:
        opam.init(site.url)
        assert opam.field("app", "depends") == \
            '"base-lib" {>= "1.1"} "util" "patched" {with-test}'
        assert opam.field("base-lib", "all-versions").split() == ["1.0", "1.1"]
        mirrored = {label for label, pkg in repo.packages.items()
                    if pkg.src is not None and pkg.checksums and not pkg.src.startswith("git")}
        check_sources(opam, repo, mirrored, tmp_path / "src")
        shutil.rmtree(opam.root / "download-cache", ignore_errors=True)
        got = served(site)
        opam.download("app")
        downloaded = served(site)[len(got):]
    # every archive came from the mirror's cache, at its first-listed checksum's path
    for label in mirrored:
        first = repo.cache_files(repo.packages[label])[0]
        assert f"/{first}" in got, label
    # and install fetched app's and its dependencies' archives from there too
    assert {f"/{repo.cache_files(repo.packages[label])[0]}"
            for label in ("app.1.0", "base-lib.1.1", "util.2.0")} <= set(downloaded)


def test_opam_uses_a_selective_mirror(mirrors: Mirrors, tmp_path: Path) -> None:
    opam = Opam(tmp_path / "root")
    with serve_directory(mirrors.selective) as site:
        opam.init(site.url)
        assert opam.field("app", "version") == "1.0"
        assert opam.field("base-lib", "all-versions").split() == ["1.1"]
        missing = opam("show", "other", check=False)
        assert missing.returncode != 0  # what the mirror cannot serve, the client never sees
        check_sources(opam, mirrors.repo, CLOSURE, tmp_path / "src")
        opam.download("app")
    assert all(not p.startswith("/packages") for p in served(site))


def test_opam_update_sees_a_new_revision(tmp_path: Path) -> None:
    repo = build(tmp_path / "upstream" / "repo")
    dest = tmp_path / "m"
    opam = Opam(tmp_path / "root")
    try:
        assert mirror(repo, dest).code == 0
        with serve_directory(dest) as site:
            opam.init(site.url)
            assert opam.field("util", "all-versions").split() == ["2.0"]
            repo.remove(REMOVED)
            repo.add(ADDED)
            repo.publish()
            again = mirror(repo, dest)
            assert again.code == 0, again.stderr
            stop(repo)
            opam("update")
            assert opam.field("util", "all-versions").split() == ["2.0", "2.1"]
            assert opam.field("base-lib", "all-versions").split() == ["1.1"]
            opam("source", ADDED.label, "--dir", str(tmp_path / "src"))
            assert (tmp_path / "src" / "VERSION").read_text() == f"{ADDED.label}\n"
    finally:
        stop(repo)
    assert f"/{repo.cache_files(ADDED)[0]}" in served(site)
