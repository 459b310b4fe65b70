"""End to end: `mirrorkit run git --lfs` against a real smart-HTTP upstream with an LFS batch
API on loopback, and unmodified git + git-lfs clients reading the objects from the mirror
through git-lfs's standalone file transfer (no LFS server inside)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugins.git.conftest import Upstream
from tests.plugins.git.gitutil import commit, git, refs_of
from tests.plugins.git.servers import LfsStore, StaticServer
from tests.support.cli import Result, run_cli

ATTRIBUTES = b"*.dat filter=lfs diff=lfs merge=lfs -text\n"
# The plain-HTTP recipe of docs/git.md, with the mirror's URL as $1.
PLAIN_HTTP_RECIPE = r"""
mirror=$1
git lfs ls-files --long | while read -r oid _ _; do
  dir=.git/lfs/objects/${oid:0:2}/${oid:2:2}
  mkdir -p "$dir"
  curl -fsS -o "$dir/$oid" "$mirror/lfs/objects/${oid:0:2}/${oid:2:2}/$oid"
done
git lfs checkout
"""


@dataclass
class LfsRepo:
    upstream: Upstream
    work: Path
    store: LfsStore
    contents: dict[str, bytes]  # oid -> content of every object upstream has

    @property
    def url(self) -> str:
        return f"{self.upstream.server.url}/media.git"

    def push(self) -> None:
        """Push main; the objects are on the LFS store already (no git-lfs pre-push upload)."""
        git("push", "-q", "--no-verify", "origin", "main", cwd=self.work)

    def add(self, name: str, content: bytes, message: str) -> str:
        """Commit ``content`` as an LFS file; returns its oid."""
        pointer = self.store.add(content)
        oid = pointer.split("sha256:", 1)[1].split("\n", 1)[0]
        self.contents[oid] = content
        commit(self.work, name, pointer.encode(), message)
        return oid


def lfs_path(oid: str) -> str:
    return f"lfs/objects/{oid[:2]}/{oid[2:4]}/{oid}"


@pytest.fixture
def lfs_repo(upstream_git: Upstream, tmp_path: Path) -> LfsRepo:
    """media.git: main (an LFS file, a plain file, tag v1) and branch `old`, whose tip alone
    names a second LFS object."""
    bare = upstream_git.root / "media.git"
    git("init", "-q", "--bare", "-b", "main", bare)
    work = tmp_path / "media-work"
    git("init", "-q", "-b", "main", work)
    git("remote", "add", "origin", bare, cwd=work)
    repo = LfsRepo(upstream_git, work, upstream_git.server.lfs, {})
    commit(work, ".gitattributes", ATTRIBUTES, "track *.dat with LFS")
    commit(work, "notes.txt", b"plain file\n", "notes")
    repo.add("video.dat", os.urandom(200_000), "a large file")
    git("tag", "v1", cwd=work)
    git("checkout", "-q", "-b", "old", cwd=work)
    repo.add("old.dat", os.urandom(50_000), "only on old")
    git("checkout", "-q", "main", cwd=work)
    git("push", "-q", "origin", "main", "old", "--tags", cwd=work)
    return repo


def _run(repo: LfsRepo, mirror: Path, *extra: str) -> Result:
    return run_cli("run", "git", "--url", repo.url, "--dest", mirror, "--lfs", "--json",
                   "--retries", "1", "--backoff-initial", "0", *extra)


def _lfs_files(mirror: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (mirror / "lfs").rglob("*") if p.is_file()}


def _install_git_lfs() -> None:
    """What a client does once: git-lfs's filters in the (test's) global config."""
    git("lfs", "install", "--skip-repo")


def test_lfs_objects_are_mirrored_and_cloned_without_an_lfs_server(
    lfs_repo: LfsRepo, mirror_dir: Path, static: StaticServer, tmp_path: Path
) -> None:
    res = _run(lfs_repo, mirror_dir)
    assert res.code == 0, res.stderr
    assert _lfs_files(mirror_dir) == lfs_repo.contents  # tips of main and old
    for oid in lfs_repo.contents:
        assert (mirror_dir / lfs_path(oid)).is_file()
    assert sorted(lfs_repo.store.downloads) == sorted(lfs_repo.contents)

    # The documented client recipe, with Debian's git-lfs and no LFS server.
    _install_git_lfs()
    lfs_url = f"file://{mirror_dir}"
    clone = tmp_path / "clone"
    git("clone", "-q", "-c", f"lfs.url={lfs_url}", f"{static.url}/", clone)
    video = next(c for c in lfs_repo.contents.values() if len(c) == 200_000)
    assert (clone / "video.dat").read_bytes() == video
    assert (clone / "notes.txt").read_bytes() == b"plain file\n"
    skip = tmp_path / "skip-smudge"
    subprocess.run(["git", "clone", "-q", f"{static.url}/", skip], check=True,
                   env={**os.environ, "GIT_LFS_SKIP_SMUDGE": "1"})
    assert (skip / "video.dat").read_bytes().startswith(b"version https://git-lfs")
    git("-c", f"lfs.url={lfs_url}", "lfs", "pull", cwd=skip)
    assert (skip / "video.dat").read_bytes() == video

    # Without access to the mirror's directory: the objects over plain HTTP (docs/git.md).
    plain = tmp_path / "plain"
    subprocess.run(["git", "clone", "-q", f"{static.url}/", plain], check=True,
                   env={**os.environ, "GIT_LFS_SKIP_SMUDGE": "1"})
    subprocess.run(["bash", "-euc", PLAIN_HTTP_RECIPE, "recipe", static.url], cwd=plain,
                   check=True)
    assert (plain / "video.dat").read_bytes() == video

    # Nothing new: the batch API is not asked, nothing is copied.
    lfs_repo.store.clear_log()
    res = _run(lfs_repo, mirror_dir)
    assert res.code == 0, res.stderr
    assert res.json["downloaded"] == 0 and res.json["removed"] == 0
    assert lfs_repo.store.batches == [] and lfs_repo.store.downloads == []

    # A new object upstream: only it is asked for and fetched; the clone follows.
    new_oid = lfs_repo.add("audio.dat", os.urandom(30_000), "audio")
    lfs_repo.push()
    lfs_repo.store.clear_log()
    res = _run(lfs_repo, mirror_dir)
    assert res.code == 0, res.stderr
    assert lfs_repo.store.batches == [[new_oid]] and lfs_repo.store.downloads == [new_oid]
    git("pull", "-q", "--ff-only", cwd=clone)
    assert (clone / "audio.dat").read_bytes() == lfs_repo.contents[new_oid]

    # verify re-hashes every object against the manifest.
    assert run_cli("verify", mirror_dir).code == 0
    victim = mirror_dir / lfs_path(new_oid)
    victim.write_bytes(b"\0" + victim.read_bytes()[1:])
    bad = run_cli("verify", mirror_dir)
    assert bad.code == 1 and lfs_path(new_oid) in bad.stdout + bad.stderr


def test_a_corrupt_or_missing_object_keeps_the_previous_refs(
    lfs_repo: LfsRepo, mirror_dir: Path, static: StaticServer
) -> None:
    assert _run(lfs_repo, mirror_dir).code == 0
    published = refs_of(static.url)
    info_refs = (mirror_dir / "info/refs").read_bytes()

    new_oid = lfs_repo.add("audio.dat", os.urandom(30_000), "audio")
    lfs_repo.push()
    lfs_repo.store.corrupt.add(new_oid)
    res = _run(lfs_repo, mirror_dir)
    assert res.code == 1 and res.json["status"] == "failed"
    assert "sha256 mismatch" in res.stderr and new_oid in res.stderr
    assert refs_of(static.url) == published  # clients still see the old, complete state
    assert (mirror_dir / "info/refs").read_bytes() == info_refs
    assert not (mirror_dir / lfs_path(new_oid)).exists()

    lfs_repo.store.corrupt.clear()
    lfs_repo.store.missing.add(new_oid)
    res = _run(lfs_repo, mirror_dir)
    assert res.code == 1 and new_oid in res.stderr and "Object not found" in res.stderr
    assert refs_of(static.url) == published

    lfs_repo.store.missing.clear()  # upstream is whole again: the next run recovers
    lfs_repo.store.clear_log()
    res = _run(lfs_repo, mirror_dir)
    assert res.code == 0, res.stderr
    assert lfs_repo.store.batches == [[new_oid]]
    assert refs_of(static.url) == refs_of(lfs_repo.url)
    assert (mirror_dir / lfs_path(new_oid)).read_bytes() == lfs_repo.contents[new_oid]


def test_history_mode_fetches_objects_no_tip_names(
    lfs_repo: LfsRepo, mirror_dir: Path
) -> None:
    first = lfs_repo.add("video.dat", os.urandom(10_000), "video, second cut")
    lfs_repo.add("video.dat", os.urandom(10_000), "video, third cut")
    lfs_repo.push()
    assert _run(lfs_repo, mirror_dir).code == 0
    assert first not in _lfs_files(mirror_dir)  # tips only, by default
    res = _run(lfs_repo, mirror_dir, "--lfs-history")
    assert res.code == 0, res.stderr
    assert _lfs_files(mirror_dir) == lfs_repo.contents


def test_lfs_needs_an_http_remote(upstream_git: Upstream, mirror_dir: Path) -> None:
    res = run_cli("run", "git", "--url", str(upstream_git.bare), "--dest", mirror_dir,
                  "--lfs")
    assert res.code == 1
    assert "not an http(s) URL" in res.stderr
    assert not (mirror_dir / "info").exists()


def test_an_object_upstream_lost_is_kept_while_a_damaged_one_is_fetched_again(
    lfs_repo: LfsRepo, mirror_dir: Path
) -> None:
    assert _run(lfs_repo, mirror_dir).code == 0
    lost, damaged = sorted(lfs_repo.contents)
    lfs_repo.store.missing.add(lost)  # upstream cannot give it any more
    (mirror_dir / lfs_path(damaged)).unlink()  # gone from the tree: fetched again
    lfs_repo.store.clear_log()
    res = _run(lfs_repo, mirror_dir)
    assert res.code == 0, res.stderr
    assert lfs_repo.store.batches == [[damaged]]  # the lost one is not even asked for
    assert _lfs_files(mirror_dir) == lfs_repo.contents
    assert run_cli("verify", mirror_dir).code == 0
