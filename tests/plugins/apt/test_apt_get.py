"""Debian's own client, unmodified, against the mirror served by a plain static HTTP server."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins.apt.conftest import AptUpstream, World
from tests.plugins.apt.test_apt_e2e import write_list
from tests.plugins.git.servers import StaticServer
from tests.support.cli import run_cli


@pytest.fixture
def served_mirror(world: World, apt_up: AptUpstream, tmp_path: Path) -> Iterator[str]:
    dest = tmp_path / "mirror"
    listing = write_list(tmp_path, apt_up, world.key.keyring)
    result = run_cli("run", "apt", "--mirror-list", listing, "--dest", dest)
    assert result.code == 0, result.stderr
    apt_up.server.stop()  # the client can only reach the mirror
    static = StaticServer(dest)
    try:
        yield f"{static.url}/127.0.0.1/debian"
    finally:
        static.stop()


def _apt(root: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """apt-get with a configuration of its own: nothing of the host's apt setup applies."""
    conf = root / "apt.conf"
    env = {"PATH": os.environ["PATH"], "APT_CONFIG": str(conf), "LC_ALL": "C.UTF-8",
           "NO_PROXY": "*"}
    opts = ["-o", f"Dir::State={root}/state", "-o", f"Dir::Cache={root}/cache",
            "-o", f"Dir::State::status={root}/status",
            "-o", "APT::Architecture=amd64", "-o", "APT::Architectures::=amd64",
            "-o", "APT::Architectures::=arm64", "-o", "APT::Sandbox::User=root",
            "-o", "Acquire::Languages=none"]
    return subprocess.run(["apt-get", *opts, *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120, check=False)


def _setup(root: Path, base: str, keyring: Path) -> None:
    etc = root / "etc"
    for d in ("apt.conf.d", "preferences.d", "sources.list.d", "trusted.gpg.d"):
        (etc / d).mkdir(parents=True)
    (etc / "sources.list").write_text(f"deb [signed-by={keyring}] {base} stable main\n"
                                      f"deb-src [signed-by={keyring}] {base} stable main\n")
    (root / "apt.conf").write_text(f'Dir::Etc "{etc}";\n')
    for d in ("state/lists/partial", "cache/archives/partial"):
        (root / d).mkdir(parents=True)
    (root / "status").write_text("")


def test_apt_get_update_download_and_source(world: World, served_mirror: str,
                                            tmp_path: Path) -> None:
    root = tmp_path / "apt"
    _setup(root, served_mirror, world.key.keyring)
    work = tmp_path / "work"
    work.mkdir()
    update = _apt(root, "update", cwd=work)
    assert update.returncode == 0, update.stdout + update.stderr
    output = update.stdout + update.stderr
    assert "W:" not in output and "E:" not in output, output
    assert "Get:" in output  # it did read the mirror's indexes

    upstream = world.v1.files()
    download = _apt(root, "download", "hello", "hello:arm64", "common", cwd=work)
    assert download.returncode == 0, download.stdout + download.stderr
    for name in ("hello_1.0_amd64.deb", "hello_1.0_arm64.deb", "common_1.0_all.deb"):
        rel = next(p for p in upstream if p.endswith("/" + name))
        assert hashlib.sha256((work / name).read_bytes()).hexdigest() == hashlib.sha256(
            upstream[rel]).hexdigest()

    source = _apt(root, "source", "--download-only", "hello", cwd=work)
    assert source.returncode == 0, source.stdout + source.stderr
    for name in ("hello_1.0.dsc", "hello_1.0.tar.xz"):
        assert (work / name).read_bytes() == upstream[f"pool/main/h/hello/{name}"]
