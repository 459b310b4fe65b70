from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins.opam.fake_repo import OpamRepo, Pkg
from tests.support.upstream import Upstream

# The first revision of the fake upstream. app 1.0 needs base-lib >= 1.1 (1.0 does not
# satisfy it), util, and patched with-test (a filter: taken); plugin is only a depopt.
REVISION_1 = [
    Pkg("base-lib", "1.0"),                                   # sha256 only
    Pkg("base-lib", "1.1", checksums=("sha512", "md5")),     # sha512 + md5
    Pkg("util", "2.0", checksums=("md5", "sha256")),         # md5 listed first
    Pkg("util-compat", "2.0", archive_of="util.2.0"),        # util's archive, sha256 only
    Pkg("patched", "1.0", extra_source=True, extra_files=True),
    Pkg("gone", "1.0", gone_from_origin=True),               # only in upstream's cache/
    Pkg("mirrored", "1.0", only_at_mirror=True, cached_upstream=False),
    Pkg("other", "1.0", cached_upstream=False),              # only at its src
    Pkg("plugin", "1.0"),
    Pkg("meta", "1.0", src=None, depends='"base-lib"'),      # no url at all
    Pkg("app", "1.0", depends='"base-lib" {>= "1.1"} "util" "patched" {with-test}',
        depopts='"plugin"'),
    Pkg("vcs", "dev", src="git+https://example.invalid/vcs.git"),
    Pkg("nosum", "1.0", checksums=()),
]

# the second revision: one version added, one removed
ADDED = Pkg("util", "2.1")
REMOVED = "base-lib.1.0"


def opam_required() -> None:
    if shutil.which("opam") is None:
        pytest.fail("the opam tests need opam 2.1 (scripts/install-system-packages)")


def build(root: Path, packages: list[Pkg] = REVISION_1) -> OpamRepo:
    """A published repository (``opam admin cache`` and ``index``) with its two hosts up."""
    opam_required()
    repo = OpamRepo(root, Upstream().start(), Upstream().start())
    repo.add(*packages)
    repo.publish()
    return repo


def stop(repo: OpamRepo) -> None:
    for server in (repo.origin, repo.host):
        with contextlib.suppress(OSError):
            server.stop()


@pytest.fixture(scope="module")
def shared_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpamRepo]:
    """One published repository per module, for tests that do not change it."""
    repo = build(tmp_path_factory.mktemp("opam") / "repo")
    try:
        yield repo
    finally:
        stop(repo)


@pytest.fixture
def repo(shared_repo: OpamRepo) -> OpamRepo:
    shared_repo.host.clear_log()
    shared_repo.origin.clear_log()
    return shared_repo


@pytest.fixture
def own_repo(tmp_path: Path) -> Iterator[OpamRepo]:
    """A repository of the test's own, which it may change."""
    repo = build(tmp_path / "upstream" / "repo")
    try:
        yield repo
    finally:
        stop(repo)
