from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugins.apt.debrepo import (
    Key,
    RepoFiles,
    build_deb,
    build_source,
    ftparchive_repo,
    make_key,
    missing_tools,
    reprepro_repo,
)
from tests.support.upstream import Handler, Upstream

TOKEN = "esmT0kenZq81xv"


@dataclass
class World:
    """Upstream repositories built once per session (gpg, dpkg-deb, dpkg-source, reprepro)."""

    key: Key
    other_key: Key
    v1: RepoFiles  # reprepro: stable, main+contrib, amd64+arm64+source
    v2: RepoFiles  # the same a release later: hello 1.1
    v3: RepoFiles  # v2 without the package common (dropped upstream)
    v1_new: RepoFiles  # v1 and one package more (newpkg, amd64)
    esm: RepoFiles  # apt-ftparchive with Acquire-By-Hash, served behind Basic auth
    bad_inrelease: bytes  # v2's Release clearsigned with the other key
    bad_release_gpg: bytes


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    missing = missing_tools()
    if missing:  # scripts/system-packages.txt installs them; say so instead of a traceback
        pytest.fail(f"apt tests need {', '.join(missing)} (scripts/system-packages.txt)")
    root = tmp_path_factory.mktemp("apt-world")
    key, other = make_key(root, "test"), make_key(root, "other")
    build = root / "build"
    build.mkdir()

    # built once: the same bytes in every release that has them, as in a real archive
    unchanged = [build_deb(build, "common", "1.0", "all", b"common data\n" * 50),
                 build_deb(build, "extra-contrib", "1.0", "amd64", b"contrib\n"),
                 build_deb(build, "inst", "1.0", "amd64", b"installer\n", udeb=True)]

    def debs(version: str) -> list[Path]:
        return [build_deb(build, "hello", version, "amd64", f"hello {version} amd64\n".encode()),
                build_deb(build, "hello", version, "arm64", f"hello {version} arm64\n".encode()),
                *unchanged]

    v1_debs, v1_dsc = debs("1.0"), build_source(build, "hello", "1.0")
    v1 = reprepro_repo(root / "v1", key, debs=v1_debs, dscs=[v1_dsc])
    v2_debs, v2_dsc = debs("1.1"), build_source(build, "hello", "1.1")
    v2 = reprepro_repo(root / "v2", key, debs=v2_debs, dscs=[v2_dsc])
    v3 = reprepro_repo(root / "v3", key, debs=[d for d in v2_debs if "common" not in d.name],
                       dscs=[v2_dsc])
    newpkg = build_deb(build, "newpkg", "1.0", "amd64", b"a new package\n")
    v1_new = reprepro_repo(root / "v1-new", key, debs=[*v1_debs, newpkg], dscs=[v1_dsc])
    esm = ftparchive_repo(root / "esm", key, debs=[v1_debs[0]])
    release = v2.root / "dists/stable/Release"
    env = other.env()
    bad_in = subprocess.run(["gpg", "--batch", "-u", other.fingerprint, "--clearsign", "-o", "-",
                             str(release)], env=env, capture_output=True, check=True).stdout
    bad_sig = subprocess.run(["gpg", "--batch", "-u", other.fingerprint, "-abs", "-o", "-",
                              str(release)], env=env, capture_output=True, check=True).stdout
    return World(key, other, v1, v2, v3, v1_new, esm, bad_in, bad_sig)


class AptUpstream:
    """One loopback server: reprepro repositories under /debian and /other, ESM under /esm."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.server = Upstream().start()
        self._published = 0
        self.publish("/debian", world.v1)
        self.publish("/other", world.v1)
        world.esm.serve(self.server, "/esm")
        expected = "Basic " + base64.b64encode(f"bearer:{TOKEN}".encode()).decode()

        def esm_auth(handler: Handler) -> bool:
            if handler.headers.get("Authorization") == expected:
                return False  # fall through to the files
            handler.send_body(401, b"unauthorized\n", {"WWW-Authenticate": 'Basic realm="esm"'})
            return True

        self.server.route("/esm/", esm_auth)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def esm_url(self) -> str:
        return f"http://bearer:{TOKEN}@127.0.0.1:{self.server.port}/esm/"

    def publish(self, prefix: str, repo: RepoFiles) -> None:
        for path in [p for p in self.server.files if p.startswith(prefix + "/")]:
            self.server.remove(path)
        self._published += 1  # a later Last-Modified for each publication, as a real archive
        repo.serve(self.server, prefix, mtime=1_700_000_000.0 + 3600 * self._published)


@pytest.fixture
def apt_up(world: World) -> Iterator[AptUpstream]:
    up = AptUpstream(world)
    try:
        yield up
    finally:
        up.server.stop()
