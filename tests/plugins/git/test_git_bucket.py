"""`mirrorkit run git --dest s3://bucket/prefix` (moto over HTTP): the work repository is new
each run there, so it is seeded from the published packs and refs; one upstream commit then
publishes one new pack beside the old ones, and nothing is removed."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.plugins.git.conftest import Upstream
from tests.plugins.git.gitutil import commit, git
from tests.plugins.git.test_git_lfs import LfsRepo, lfs_path, lfs_repo  # noqa: F401
from tests.support.cli import Result, run_cli
from tests.support.logged_bucket import LoggedBucket

LOCK = "mirror/.mirrorkit/lock"


def run_into(bucket: LoggedBucket, url: str, *extra: str) -> Result:
    res = run_cli("run", "git", "--url", url, "--dest", bucket.url, "--json", *extra,
                  env=bucket.env())
    return res


def writes(bucket: LoggedBucket) -> list[tuple[str, str]]:
    """What a run wrote into the mirror, the lock it takes and gives back left out."""
    return [(m, k) for m, k in bucket.writes() if k != LOCK]


def packs(files: dict[str, bytes]) -> set[str]:
    return {p for p in files if p.startswith("objects/pack/")}


def test_a_commit_upstream_publishes_one_new_pack_and_removes_nothing(
    upstream_git: Upstream, bucket: LoggedBucket, tmp_path: Path
) -> None:
    first = run_into(bucket, upstream_git.url)
    assert first.code == 0, first.stderr
    published = bucket.published()
    assert len([p for p in published if p.endswith(".pack")]) == 1

    # nothing new upstream: git exchanges refs only, nothing is written, byte for byte
    before = bucket.objects()
    bucket.clear()
    upstream_git.server.reset_count()
    again = run_into(bucket, upstream_git.url)
    assert again.code == 0, again.stderr
    assert again.json["downloaded"] == 0 and again.json["removed"] == 0
    assert upstream_git.server.bytes_sent < 2_000  # not a clone: the refs were there
    assert writes(bucket) == []
    assert bucket.objects() == before

    # one small commit: its objects travel, one pack and its idx are uploaded beside the
    # published ones, with the index files that name them; nothing is deleted
    commit(upstream_git.work, "NEWS", b"news\n", "news")
    upstream_git.push("trunk")
    bucket.clear()
    upstream_git.server.reset_count()
    third = run_into(bucket, upstream_git.url)
    assert third.code == 0, third.stderr
    assert third.json["removed"] == 0
    assert upstream_git.server.bytes_sent < 5_000
    after = bucket.published()
    new = packs(after) - packs(published)
    assert packs(published) < packs(after) and len(new) == 2  # a .pack and its .idx
    assert sum(len(after[p]) for p in new) < 3_000
    put = {k.removeprefix("mirror/") for m, k in writes(bucket)
           if m == "PUT" and not k.startswith("mirror/.mirrorkit/")}
    assert put == new | {"objects/info/packs", "packed-refs", "info/refs"}
    assert not [k for m, k in writes(bucket) if m == "DELETE"]

    # what was published is a repository a client clones, with the new commit
    local = tmp_path / "from-bucket"
    for rel, body in after.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(body)
    clone = tmp_path / "clone"
    git("clone", "-q", local, clone)
    assert (clone / "NEWS").read_bytes() == b"news\n"
    assert git("rev-parse", "HEAD", cwd=clone) == git("rev-parse", "trunk",
                                                       cwd=upstream_git.work)


def test_an_lfs_object_upstream_lost_stays_in_the_bucket(
    lfs_repo: LfsRepo, bucket: LoggedBucket, tmp_path: Path  # noqa: F811
) -> None:
    extra = ("--lfs", "--retries", "1", "--backoff-initial", "0")
    first = run_into(bucket, lfs_repo.url, *extra)
    assert first.code == 0, first.stderr
    lost = sorted(lfs_repo.contents)
    state = json.loads(bucket.objects()["mirror/.mirrorkit/published.json"][1])["state"]
    assert "plugin/git-lfs-pointers.json" in state  # the pointer scan lives in the bucket

    # upstream cannot give its objects any more (an error object in every batch answer);
    # the bucket has them, so the run keeps them without asking, as a local mirror does
    lfs_repo.store.missing.update(lost)
    lfs_repo.store.clear_log()
    before = bucket.objects()
    bucket.clear()
    again = run_into(bucket, lfs_repo.url, *extra)
    assert again.code == 0, again.stderr
    assert lfs_repo.store.batches == []
    assert writes(bucket) == [] and bucket.objects() == before

    # a new object upstream beside them: only it is asked for, the lost ones stay
    new_oid = lfs_repo.add("audio.dat", os.urandom(20_000), "audio")
    lfs_repo.push()
    lfs_repo.store.clear_log()
    third = run_into(bucket, lfs_repo.url, *extra)
    assert third.code == 0, third.stderr
    assert lfs_repo.store.batches == [[new_oid]]
    published = bucket.published()
    for oid in [*lost, new_oid]:
        assert published[lfs_path(oid)] == lfs_repo.contents[oid]
    assert third.json["removed"] == 0
