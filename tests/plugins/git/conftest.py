from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugins.git.gitutil import commit, git, isolated_git_env
from tests.plugins.git.servers import GitHttpServer, StaticServer


@pytest.fixture
def git_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary HOME and no system config, for git in the tests and in the CLI under test."""
    home = tmp_path / "home"
    for key, value in isolated_git_env(home).items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith("GIT_") and key not in isolated_git_env(home):
            monkeypatch.delenv(key)
    return home


@dataclass
class Upstream:
    root: Path  # served by http-backend
    bare: Path  # root/project.git
    work: Path  # a working clone that pushes to bare
    server: GitHttpServer

    @property
    def url(self) -> str:
        return f"{self.server.url}/project.git"

    def push(self, *refspecs: str, force: bool = False) -> None:
        git("push", "-q", *(["--force"] if force else []), "origin", *refspecs, cwd=self.work)


@pytest.fixture
def upstream_git(tmp_path: Path, git_home: Path) -> Iterator[Upstream]:
    """project.git with branches trunk (HEAD), dev and feature and tags v1.0 and light,
    served over smart HTTP by git http-backend."""
    root = tmp_path / "upstream"
    bare = root / "project.git"
    git("init", "-q", "--bare", "-b", "trunk", bare)
    work = tmp_path / "upstream-work"
    git("init", "-q", "-b", "trunk", work)
    git("remote", "add", "origin", bare, cwd=work)
    commit(work, "big.bin", os.urandom(300_000), "initial: a large file")
    commit(work, "README", b"hello\n", "readme")
    git("tag", "-a", "v1.0", "-m", "release 1.0", cwd=work)
    git("branch", "dev", cwd=work)
    git("checkout", "-q", "-b", "feature", cwd=work)
    commit(work, "feature.txt", b"feature one\n", "feature work")
    git("tag", "light", cwd=work)
    git("checkout", "-q", "trunk", cwd=work)
    git("push", "-q", "origin", "trunk", "dev", "feature", "--tags", cwd=work)
    server = GitHttpServer(root)
    try:
        yield Upstream(root, bare, work, server)
    finally:
        server.stop()


@pytest.fixture
def mirror_dir(tmp_path: Path) -> Path:
    return tmp_path / "mirror"


@pytest.fixture
def static(mirror_dir: Path) -> Iterator[StaticServer]:
    mirror_dir.mkdir(parents=True, exist_ok=True)
    server = StaticServer(mirror_dir)
    try:
        yield server
    finally:
        server.stop()
