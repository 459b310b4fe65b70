"""``mirrorkit run opam --package NAME[.VERSION] [--with-deps]``: a closure, with its index."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.plugins.opam.fake_repo import OpamRepo
from tests.plugins.opam.helpers import (
    INDEX_FILES,
    cache_files,
    index_bytes,
    index_members,
    mirror,
    version_dirs,
)
from tests.support.cli import run_cli
from tests.support.trees import files, mirror_tree

# app 1.0: base-lib >= 1.1 (not 1.0), util (its one version), patched {with-test} (a
# filter: a client building tests takes it, so the mirror does)
CLOSURE = {"app.1.0", "base-lib.1.1", "util.2.0", "patched.1.0"}


def test_closure_with_dependencies(repo: OpamRepo, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    result = mirror(repo, dest, "--package", "app", "--with-deps")
    assert result.code == 0, result.stderr
    assert version_dirs(dest / "index.tar.gz") == CLOSURE
    assert files(dest) == INDEX_FILES | cache_files(repo, CLOSURE)
    # the index's files are upstream's own, byte for byte, with their metadata
    upstream_index = repo.root / "index.tar.gz"
    mine, theirs = index_bytes(dest / "index.tar.gz"), index_bytes(upstream_index)
    assert all(theirs[name] == data for name, data in mine.items())
    assert "packages/patched/patched.1.0/files/fix.patch" in mine  # extra-files go along
    assert (dest / "repo").read_bytes() == repo.host.files["/repo/repo"].body
    upstream_members = {m.name: m.get_info() for m in index_members(upstream_index)}
    for member in index_members(dest / "index.tar.gz"):
        assert member.get_info() == upstream_members[member.name]
    urls = (dest / "urls.txt").read_text()
    assert urls.startswith("repo\t") and urls.count("\n") == 1
    assert result.json["opam"]["versions"] == len(CLOSURE)
    assert run_cli("verify", dest).code == 0


def test_the_index_has_the_layout_of_opam_admin_index(repo: OpamRepo, tmp_path: Path) -> None:
    """``opam admin index`` over a copy of upstream holding only the selection gives the
    same members (names, kinds, modes) as the mirror's index."""
    dest = tmp_path / "m"
    assert mirror(repo, dest, "--package", "app", "--with-deps").code == 0
    copy = tmp_path / "copy"
    shutil.copytree(repo.root, copy, ignore=shutil.ignore_patterns("cache", "*.tar.gz"))
    for pkg_dir in (copy / "packages").glob("*/*"):
        if pkg_dir.name not in CLOSURE:
            shutil.rmtree(pkg_dir)
    for name_dir in (copy / "packages").iterdir():
        if not any(name_dir.iterdir()):
            name_dir.rmdir()
    shutil.copy(repo.root / "repo", copy / "repo")
    env = {**os.environ, "OPAMROOT": str(tmp_path / "root"), "OPAMYES": "1"}
    subprocess.run(["opam", "admin", "index"], cwd=copy, env=env, check=True,
                   capture_output=True)

    def layout(path: Path) -> set[tuple[str, bytes, int]]:
        return {(m.name.rstrip("/"), m.type, m.mode) for m in index_members(path)}

    assert layout(dest / "index.tar.gz") == layout(copy / "index.tar.gz")


def test_versions_and_depopts(repo: OpamRepo, tmp_path: Path) -> None:
    one = mirror(repo, tmp_path / "one", "--package", "base-lib.1.0")
    assert one.code == 0, one.stderr
    assert version_dirs(tmp_path / "one/index.tar.gz") == {"base-lib.1.0"}
    every = mirror(repo, tmp_path / "every", "--package", "base-lib", "--package", "util")
    assert every.code == 0, every.stderr
    assert version_dirs(tmp_path / "every/index.tar.gz") == {"base-lib.1.0", "base-lib.1.1",
                                                             "util.2.0"}
    opts = mirror(repo, tmp_path / "opts", "--package", "app", "--with-deps",
                  "--with-depopts")
    assert opts.code == 0, opts.stderr
    assert version_dirs(tmp_path / "opts/index.tar.gz") == CLOSURE | {"plugin.1.0"}


def test_unchanged_selection_is_one_request(repo: OpamRepo, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(repo, dest, "--package", "app", "--with-deps").code == 0
    before = mirror_tree(dest)
    repo.host.clear_log()
    again = mirror(repo, dest, "--package", "app", "--with-deps")
    assert again.code == 0, again.stderr
    assert [(r.method, r.path) for r in repo.host.log] == [("GET", "/repo/index.tar.gz")]
    assert again.json["downloaded"] == 0 and again.json["copied"] == 0
    assert mirror_tree(dest) == before  # the index rebuilt to the same bytes


def test_a_wider_selection_keeps_what_it_had(repo: OpamRepo, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(repo, dest, "--package", "other").code == 0
    wider = mirror(repo, dest, "--package", "app", "--with-deps")
    assert wider.code == 0, wider.stderr
    assert version_dirs(dest / "index.tar.gz") == CLOSURE
    # other's archive is no longer listed, and stays until --prune-cache
    assert files(dest) == INDEX_FILES | cache_files(repo, CLOSURE | {"other.1.0"})
    pruned = mirror(repo, dest, "--package", "app", "--with-deps", "--prune-cache")
    assert pruned.code == 0, pruned.stderr
    assert files(dest) == INDEX_FILES | cache_files(repo, CLOSURE)


def test_a_package_not_in_the_index_is_an_error(repo: OpamRepo, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    result = mirror(repo, dest, "--package", "nope", "--with-deps")
    assert result.code == 1
    assert "no package 'nope' in the repository's index" in result.stderr
    assert files(dest) == set()
