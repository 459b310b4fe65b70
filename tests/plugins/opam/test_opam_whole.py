"""``mirrorkit run opam`` without --package: the repository as opam.ocaml.org serves it."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugins.opam.conftest import ADDED, REMOVED
from tests.plugins.opam.fake_repo import EXTRA_PATCH, OpamRepo, Pkg, archive_bytes
from tests.plugins.opam.helpers import (
    INDEX_FILES,
    cache_files,
    digests,
    inode,
    mirror,
    version_dirs,
)
from tests.support.cli import Result, run_cli
from tests.support.trees import files, mirror_tree
from tests.support.upstream import Request


@dataclass
class FirstRun:
    dest: Path
    result: Result
    host: list[Request]  # what the run asked of upstream's repository host
    origin: list[Request]  # and of the archives' origin


@pytest.fixture(scope="module")
def first_run(shared_repo: OpamRepo, tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """The module's repository mirrored once (the tests below only read it, or re-run)."""
    shared_repo.host.clear_log()
    shared_repo.origin.clear_log()
    dest = tmp_path_factory.mktemp("whole") / "m"
    result = mirror(shared_repo, dest, "--log-level", "info")
    return FirstRun(dest, result, list(shared_repo.host.log), list(shared_repo.origin.log))


def test_the_repository_is_mirrored_as_upstream_serves_it(repo: OpamRepo,
                                                           first_run: FirstRun) -> None:
    dest, result = first_run.dest, first_run.result
    assert result.code == 0, result.stderr
    # the index files byte for byte, and every listed checksum's cache path
    expected = cache_files(repo)
    assert files(dest) == INDEX_FILES | expected
    for name in INDEX_FILES:
        assert (dest / name).read_bytes() == repo.host.files[f"/repo/{name}"].body, name
    for pkg in repo.packages.values():
        paths = repo.cache_files(pkg)
        archive_paths = [p for p in paths if p.rsplit("/", 1)[1] in
                         digests(repo.archive(pkg)).values()]
        for path in archive_paths:
            data = (dest / path).read_bytes()
            assert data == repo.archive(pkg), path
            # the file is at the path of each checksum, and is what each of them says
            assert path.rsplit("/", 1)[1] == hashlib.new(path.split("/")[1], data).hexdigest()
        assert len({inode(dest / p) for p in archive_paths}) <= 1, pkg.label  # hard links
        for path in set(paths) - set(archive_paths):
            assert (dest / path).read_bytes() == EXTRA_PATCH
    # util and util-compat share one archive, listed with other checksums: one file
    util = {inode(dest / p) for label in ("util.2.0", "util-compat.2.0")
            for p in repo.cache_files(repo.packages[label])}
    assert len(util) == 1
    note = result.json["opam"]
    assert note["versions"] == len(repo.packages)
    assert note["cache_files"] == len(expected)
    assert note["skipped"]["vcs"] == 1 and note["skipped"]["no_checksum"] == 1
    assert run_cli("verify", dest).code == 0


def test_archives_come_from_upstream_cache_then_src_then_mirrors(repo: OpamRepo,
                                                                 first_run: FirstRun) -> None:
    result = first_run.result
    assert result.code == 0, result.stderr
    origin = [r.path for r in first_run.origin if r.method == "GET"]
    # what upstream's cache holds is never asked of the origin, not even "gone"'s,
    # whose origin file is gone
    cached = [p for p in repo.packages.values() if p.src and p.checksums
              and p.cached_upstream and not p.only_at_mirror]
    assert all(f"/src/{p.archive_name}" not in origin for p in cached)
    # not in upstream's cache: the src; src gone too: the mirror the package lists
    assert "/src/other.1.0.tar.gz" in origin
    assert origin.count("/src/missing-mirrored.1.0.tar.gz") == 1
    assert "/mirror/mirrored.1.0.tar.gz" in origin
    cache_asks = [r.path for r in first_run.host if r.path.startswith("/repo/cache/")]
    first_listed = repo.cache_files(repo.packages["other.1.0"])[0]
    assert f"/repo/{first_listed}" in cache_asks  # asked (404) before the src
    # entries the mirror cannot hold are said once each at --log-level info
    assert "skipped vcs.dev url: git source git+https://example.invalid/vcs.git" in \
        result.stderr
    assert "skipped nosum.1.0 url: no checksum" in result.stderr


def test_unchanged_rerun_makes_one_request(repo: OpamRepo, first_run: FirstRun) -> None:
    dest = first_run.dest
    before = mirror_tree(dest)
    repo.host.clear_log()
    repo.origin.clear_log()
    again = mirror(repo, dest)
    assert again.code == 0, again.stderr
    assert [(r.method, r.path) for r in repo.host.log] == [("GET", "/repo/index.tar.gz")]
    assert repo.origin.log == []
    assert again.json["downloaded"] == 0 and again.json["removed"] == 0
    assert again.json["opam"] == {"index": "unchanged"}
    assert mirror_tree(dest) == before


def test_index_without_validators_is_compared_by_content(own_repo: OpamRepo,
                                                         tmp_path: Path) -> None:
    index = own_repo.host.files["/repo/index.tar.gz"].body
    own_repo.host.add("/repo/index.tar.gz", index, etag=False)  # no ETag, no Last-Modified
    dest = tmp_path / "m"
    assert mirror(own_repo, dest).code == 0
    own_repo.host.clear_log()
    again = mirror(own_repo, dest)
    assert again.code == 0, again.stderr
    gets = own_repo.host.requests(method="GET")
    assert [r.path for r in own_repo.host.log] == ["/repo/index.tar.gz"]
    assert not any("If-None-Match" in r.headers for r in gets)  # a full 200 each time
    assert again.json["downloaded"] == 0 and again.json["opam"] == {"index": "unchanged"}


def test_a_new_revision_downloads_only_its_new_archives(own_repo: OpamRepo,
                                                        tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(own_repo, dest).code == 0
    removed = own_repo.packages[REMOVED]
    removed_paths = own_repo.cache_files(removed)
    own_repo.remove(REMOVED)
    own_repo.add(ADDED)
    own_repo.publish()
    own_repo.host.clear_log()
    own_repo.origin.clear_log()
    again = mirror(own_repo, dest)
    assert again.code == 0, again.stderr
    new_paths = own_repo.cache_files(ADDED)
    asked = [r.path.removeprefix("/repo/") for r in own_repo.host.requests("/repo/cache/")]
    assert asked == new_paths[:1]  # the new archive, from upstream's cache, nothing else
    assert own_repo.origin.log == []
    assert (dest / new_paths[0]).read_bytes() == archive_bytes(ADDED.label)
    assert (dest / "index.tar.gz").read_bytes() == \
        own_repo.host.files["/repo/index.tar.gz"].body
    # the removed version's archive stays: switches that installed it may still ask
    assert all((dest / p).exists() for p in removed_paths)
    assert again.json["opam"]["kept_unreferenced"] == len(removed_paths)
    assert again.json["removed"] == 0
    # a plan agrees: nothing to change, the unlisted files included
    plan = mirror(own_repo, dest, command="plan")
    assert plan.code == 0 and plan.json["changes"] == [], plan.json["changes"]
    # until the operator prunes
    pruned = mirror(own_repo, dest, "--prune-cache")
    assert pruned.code == 0, pruned.stderr
    assert not any((dest / p).exists() for p in removed_paths)
    assert pruned.json["removed"] == len(removed_paths)
    assert files(dest) == INDEX_FILES | cache_files(own_repo)


def test_a_tampered_archive_fails_the_run_and_the_index_stays(own_repo: OpamRepo,
                                                              tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(own_repo, dest).code == 0
    served = {name: (dest / name).read_bytes() for name in INDEX_FILES}
    own_repo.add(Pkg("evil", "1.0"))
    own_repo.publish()
    evil = own_repo.cache_files(own_repo.packages["evil.1.0"])[0]
    # upstream's cache and the origin both serve other bytes than the checksum says
    own_repo.host.add(f"/repo/{evil}", b"tampered")
    own_repo.origin.add("/src/evil.1.0.tar.gz", b"tampered")
    again = mirror(own_repo, dest)
    assert again.code == 1
    assert evil in again.stderr
    assert {name: (dest / name).read_bytes() for name in INDEX_FILES} == served
    assert not (dest / evil).exists()


def test_a_tampered_cache_file_upstream_is_fetched_from_src(own_repo: OpamRepo,
                                                            tmp_path: Path) -> None:
    pkg = own_repo.packages["base-lib.1.0"]
    path = own_repo.cache_files(pkg)[0]
    own_repo.host.add(f"/repo/{path}", b"not the archive")
    dest = tmp_path / "m"
    result = mirror(own_repo, dest)
    assert result.code == 0, result.stderr
    assert (dest / path).read_bytes() == archive_bytes(pkg.label)
    assert "/src/base-lib.1.0.tar.gz" in [r.path for r in own_repo.origin.log]


def test_malformed_upstream_data_is_one_line_and_changes_nothing(own_repo: OpamRepo,
                                                                 tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(own_repo, dest).code == 0
    before = mirror_tree(dest)
    broken = own_repo.root / "packages" / "broken" / "broken.1.0"
    broken.mkdir(parents=True)
    (broken / "opam").write_text('opam-version: "2.0"\nurl {\n  src: "http://x/y.tgz"\n'
                                 '  checksum: "sha256=1234"\n}\n')
    own_repo.publish()
    bad = mirror(own_repo, dest)
    assert bad.code == 1
    lines = [line for line in bad.stderr.splitlines() if "broken.1.0/opam" in line]
    assert len(lines) == 1 and "checksum 'sha256=1234' is not 64 hex characters" in lines[0]
    assert mirror_tree(dest) == before
    (broken / "opam").write_text('opam-version: "2.0"\ndepends: [ "a" {>= "1" ]\n')
    own_repo.publish()
    bad = mirror(own_repo, dest)
    assert bad.code == 1
    assert "packages/broken/broken.1.0/opam: line 2:" in bad.stderr
    assert mirror_tree(dest) == before
    own_repo.host.add("/repo/index.tar.gz", b"<html>maintenance</html>")
    bad = mirror(own_repo, dest)
    assert bad.code == 1 and "index.tar.gz: not a gzip file" in bad.stderr
    assert mirror_tree(dest) == before


def test_urls_txt_absent_upstream_is_absent_from_the_mirror(own_repo: OpamRepo,
                                                             tmp_path: Path) -> None:
    own_repo.host.remove("/repo/urls.txt")
    dest = tmp_path / "m"
    result = mirror(own_repo, dest)
    assert result.code == 0, result.stderr
    assert files(dest) == {"index.tar.gz", "repo"} | cache_files(own_repo)


def test_plan_json_counts_without_writing(repo: OpamRepo, first_run: FirstRun,
                                         tmp_path: Path) -> None:
    dest = tmp_path / "m"
    plan = mirror(repo, dest, command="plan")
    assert plan.code == 0, plan.stderr
    changes = {c["path"]: c for c in plan.json["changes"]}
    assert set(changes) == INDEX_FILES | cache_files(repo)
    assert all(c["reason"] == "new" for c in changes.values())
    assert plan.json["opam"]["archives"] == 10
    assert not dest.exists()
    # over a complete mirror, a plan changes nothing
    again = mirror(repo, first_run.dest, command="plan")
    assert again.code == 0 and again.json["changes"] == []


def test_the_same_keys_work_in_a_config_file(repo: OpamRepo, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    config = tmp_path / "mirrors.toml"
    config.write_text(f"""
[[mirrors]]
name = "ocaml"
registry = "opam"
dest = "{dest}"
repo_url = "{repo.url}"
packages = ["app"]
with_deps = true
prune_cache = true
""")
    result = run_cli("run", "--config", config, "--json")
    assert result.code == 0, result.stderr
    assert version_dirs(dest / "index.tar.gz") == {"app.1.0", "base-lib.1.1", "util.2.0",
                                                   "patched.1.0"}
    bad = run_cli("run", "opam", "--dest", tmp_path / "x", "--repo-url", repo.url,
                  "--with-deps")
    assert bad.code == 2 and "--package" in bad.stderr
    bad = run_cli("run", "opam", "--dest", tmp_path / "x", "--repo-url", repo.url,
                  "--package", "not a name")
    assert bad.code == 2 and "not an opam package name" in bad.stderr
    assert not (tmp_path / "x").exists()


def test_a_cache_made_by_opam_admin_cache_is_adopted(repo: OpamRepo, tmp_path: Path) -> None:
    """Migrating: the cache/ of a repository served after ``opam admin cache`` is taken over
    where it verifies, and only what it lacks is downloaded."""
    dest = tmp_path / "m"
    shutil.copytree(repo.root / "cache", dest / "cache")
    had = files(dest)
    result = mirror(repo, dest)
    assert result.code == 0, result.stderr
    asked = [r.path.removeprefix("/repo/") for r in repo.host.requests("/repo/cache/")]
    assert not had & set(asked)  # nothing the old cache held was fetched again
    assert files(dest) == INDEX_FILES | cache_files(repo)
    assert result.json["downloaded"] == len(INDEX_FILES) + 2  # other and mirrored
    assert run_cli("verify", dest).code == 0
