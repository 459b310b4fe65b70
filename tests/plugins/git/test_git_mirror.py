"""End to end: `mirrorkit run git` against a real smart-HTTP upstream, the mirror served by a
plain static HTTP server, and real `git clone` / `git fetch` clients."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.plugins.git.conftest import Upstream
from tests.plugins.git.gitutil import commit, git, refs_of
from tests.plugins.git.servers import GitHttpServer, StaticServer
from tests.support.cli import run_cli


def _files(mirror: Path) -> dict[str, int]:
    """Published files (not the state directory) and their sizes."""
    out = {}
    for p in mirror.rglob("*"):
        rel = p.relative_to(mirror).as_posix()
        if p.is_file() and not rel.startswith(".mirrorkit/"):
            out[rel] = p.stat().st_size
    return out


def _run(upstream: Upstream, mirror: Path, *extra: str) -> dict[str, object]:
    res = run_cli("run", "git", "--url", upstream.url, "--dest", mirror, "--json", *extra)
    assert res.code == 0, res.stderr
    report: dict[str, object] = res.json
    assert report["status"] == "ok"
    return report


def test_clone_follow_and_incremental_transfer(
    upstream_git: Upstream, mirror_dir: Path, static: StaticServer, tmp_path: Path
) -> None:
    first = _run(upstream_git, mirror_dir)
    first_bytes = upstream_git.server.bytes_sent
    files = _files(mirror_dir)
    packs = {p: s for p, s in files.items() if p.endswith(".pack")}
    assert len(packs) == 1 and first["bytes_downloaded"] == sum(files.values())
    assert not any(p.startswith(("hooks/", "config", "description")) for p in files)

    # A plain static server is enough for git's dumb HTTP protocol.
    clone = tmp_path / "clone"
    git("clone", "-q", static.url, clone)
    assert refs_of(static.url) == refs_of(upstream_git.url)
    assert git("symbolic-ref", "HEAD", cwd=clone).strip() == "refs/heads/trunk"
    assert (clone / "README").read_bytes() == b"hello\n"
    git("fetch", "-q", "--tags", cwd=clone)
    assert git("tag", cwd=clone).split() == ["light", "v1.0"]

    # Upstream moves on: new commits, a new tag, a deleted branch, a force push.
    w = upstream_git.work
    new_head = commit(w, "NEWS", b"news\n", "news")
    git("tag", "-a", "v1.1", "-m", "release 1.1", cwd=w)
    git("checkout", "-q", "-B", "feature", "trunk~1", cwd=w)
    rewritten = commit(w, "feature.txt", b"feature, rewritten\n", "feature redone")
    git("checkout", "-q", "trunk", cwd=w)
    upstream_git.push("trunk", "feature", "v1.1", force=True)
    upstream_git.push(":dev")
    upstream_git.server.reset_count()

    second = _run(upstream_git, mirror_dir)
    second_bytes = upstream_git.server.bytes_sent
    after = _files(mirror_dir)
    new_packs = {p: s for p, s in after.items() if p.endswith(".pack") and p not in packs}
    # Only the new objects travelled: from upstream, and from the work repo into the mirror.
    assert len(new_packs) == 1 and set(packs) <= set(after)
    assert second_bytes < first_bytes / 20, (first_bytes, second_bytes)
    copied = {p for p in after if p not in files or after[p] != files[p]}
    assert second["downloaded"] <= 6, second  # pack, idx, packs list, packed-refs, info/refs
    assert second["bytes_downloaded"] < 10_000 < sum(packs.values())
    assert copied <= {*new_packs, *(p[:-4] + "idx" for p in new_packs), "objects/info/packs",
                      "packed-refs", "info/refs"}
    assert refs_of(static.url) == refs_of(upstream_git.url)
    assert "refs/heads/dev" not in refs_of(static.url)

    # The clone follows: deletion, force push, new tag, fast-forward.
    git("fetch", "-q", "--prune", "--tags", "--force", cwd=clone)
    assert git("rev-parse", "origin/feature", cwd=clone).strip() == rewritten
    assert "origin/dev" not in git("branch", "-r", cwd=clone)
    git("merge", "-q", "--ff-only", "origin/trunk", cwd=clone)
    assert git("rev-parse", "HEAD", cwd=clone).strip() == new_head
    assert "v1.1" in git("tag", cwd=clone).split()

    # Nothing new upstream: nothing is copied, git only exchanged the ref advertisement.
    upstream_git.server.reset_count()
    third = _run(upstream_git, mirror_dir)
    assert third["downloaded"] == 0 and third["removed"] == 0
    assert upstream_git.server.bytes_sent < 2_000

    verified = run_cli("verify", mirror_dir)
    assert verified.code == 0, verified.stderr


def test_full_repack_prunes_old_packs_and_clone_still_works(
    upstream_git: Upstream, mirror_dir: Path, static: StaticServer, tmp_path: Path
) -> None:
    _run(upstream_git, mirror_dir)
    commit(upstream_git.work, "more", b"more\n", "more")
    upstream_git.push("trunk")
    _run(upstream_git, mirror_dir)
    assert len([p for p in _files(mirror_dir) if p.endswith(".pack")]) == 2
    report = _run(upstream_git, mirror_dir, "--full-repack")
    packs = [p for p in _files(mirror_dir) if p.endswith(".pack")]
    assert len(packs) == 1 and report["removed"] == 4  # two old packs and their idx files
    assert (mirror_dir / "objects/info/packs").read_text().count("P pack-") == 1
    git("clone", "-q", static.url, tmp_path / "clone")
    assert refs_of(static.url) == refs_of(upstream_git.url)
    assert run_cli("verify", mirror_dir).code == 0


def test_several_repositories_in_one_mirror_from_config(
    upstream_git: Upstream, mirror_dir: Path, static: StaticServer, tmp_path: Path
) -> None:
    git("init", "-q", "--bare", "-b", "main", upstream_git.root / "other.git")
    other_work = tmp_path / "other-work"
    git("clone", "-q", upstream_git.root / "other.git", other_work)
    commit(other_work, "x", b"x\n", "x")
    git("push", "-q", "origin", "HEAD:main", cwd=other_work)
    config = tmp_path / "mirrors.toml"
    config.write_text(f"""
[[mirrors]]
name = "repos"
registry = "git"
dest = "{mirror_dir}"
repos = [
  {{ url = "{upstream_git.url}", path = "project.git" }},
  {{ url = "{upstream_git.server.url}/other.git", path = "nested/other.git" }},
]
""")
    res = run_cli("run", "--config", config, "--json")
    assert res.code == 0, res.stderr
    assert refs_of(f"{static.url}/project.git") == refs_of(upstream_git.url)
    git("clone", "-q", f"{static.url}/nested/other.git", tmp_path / "c2")
    assert (tmp_path / "c2" / "x").read_bytes() == b"x\n"
    # The same with flags: --repo PATH=URL, repeatable.
    res = run_cli("run", "git", "--dest", tmp_path / "m2", "--repo",
                  f"a.git={upstream_git.url}", "--repo", f"b.git={upstream_git.url}")
    assert res.code == 0, res.stderr
    assert (tmp_path / "m2" / "a.git" / "info" / "refs").read_bytes() == (
        tmp_path / "m2" / "b.git" / "info" / "refs").read_bytes()
    assert run_cli("verify", mirror_dir).code == 0


def test_verify_runs_a_git_object_check(upstream_git: Upstream, mirror_dir: Path) -> None:
    _run(upstream_git, mirror_dir)
    # A pack gone from disk *and* from the manifest: every file checks out, git does not.
    manifest_path = mirror_dir / ".mirrorkit" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for path in [p for p in manifest["files"] if p.startswith("objects/pack/")]:
        del manifest["files"][path]
        (mirror_dir / path).unlink()
    manifest_path.write_text(json.dumps(manifest))
    res = run_cli("verify", mirror_dir)
    assert res.code == 1
    assert "git <root>: " in res.stderr and "missing" in res.stderr, res.stderr
    assert "FAILED" in res.stderr


def test_bad_input_and_failures_leave_the_mirror_unchanged(
    upstream_git: Upstream, mirror_dir: Path
) -> None:
    res = run_cli("run", "git", "--dest", mirror_dir)
    assert res.code == 2 and "url" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr

    res = run_cli("run", "git", "--dest", mirror_dir, "--url", "x", "--path", "../up")
    assert res.code == 2 and ".." in res.stderr

    _run(upstream_git, mirror_dir)
    before = {p: (mirror_dir / p).read_bytes() for p in _files(mirror_dir)}
    secret_url = upstream_git.server.url.replace("://", "://alice:s3cr3t@") + "/missing.git"
    res = run_cli("--log-level", "debug", "run", "git", "--url", secret_url,
                  "--dest", mirror_dir, "--json")
    assert res.code == 1
    assert "s3cr3t" not in res.stderr + res.stdout
    assert "missing.git" in res.stderr
    assert res.json["status"] == "failed"
    assert {p: (mirror_dir / p).read_bytes() for p in _files(mirror_dir)} == before


def test_plan_reports_ref_changes_without_writing(
    upstream_git: Upstream, mirror_dir: Path
) -> None:
    _run(upstream_git, mirror_dir)
    commit(upstream_git.work, "later", b"later\n", "later")
    upstream_git.push("trunk")
    state = {p: os.stat(mirror_dir / p).st_mtime_ns for p in _files(mirror_dir)}
    res = run_cli("plan", "git", "--url", upstream_git.url, "--dest", mirror_dir, "--json")
    assert res.code == 0, res.stderr
    assert "would add 0, update 1 and delete 0 refs" in res.stderr
    assert res.json["removed"] == 0
    assert {p: os.stat(mirror_dir / p).st_mtime_ns for p in _files(mirror_dir)} == state


def test_lock_files_of_a_killed_run_do_not_block_the_next(
    upstream_git: Upstream, mirror_dir: Path, static: StaticServer
) -> None:
    _run(upstream_git, mirror_dir)
    work = mirror_dir / ".mirrorkit" / "work" / "git" / ".root" / "work.git"
    (work / "packed-refs.lock").write_text("")  # what git leaves when killed mid-update
    (work / "objects" / "pack" / "tmp_pack_abc123").write_bytes(b"partial")
    commit(upstream_git.work, "after-kill", b"x\n", "after kill")
    upstream_git.push("trunk")
    _run(upstream_git, mirror_dir)
    assert refs_of(static.url) == refs_of(upstream_git.url)
    assert not (work / "packed-refs.lock").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _daemon_refs(base: Path, name: str) -> dict[str, str]:
    """``git ls-remote`` through a ``git daemon`` serving ``base`` (started and stopped here)."""
    port = _free_port()
    daemon = subprocess.Popen(["git", "daemon", "--export-all", f"--base-path={base}",
                               "--listen=127.0.0.1", f"--port={port}", "--reuseaddr", str(base)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                return refs_of(f"git://127.0.0.1:{port}/{name}")
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        daemon.terminate()
        daemon.wait()


def test_the_mirror_is_a_repository_git_accepts_after_publish_and_import(
    upstream_git: Upstream, mirror_dir: Path, tmp_path: Path
) -> None:
    _run(upstream_git, mirror_dir)
    expected = refs_of(upstream_git.url)
    assert (mirror_dir / "refs/heads/.keep").is_file()  # refs/ exists through a managed file
    git(f"--git-dir={mirror_dir}", "fsck", "--no-dangling")
    git("clone", "-q", mirror_dir, tmp_path / "local")
    assert refs_of(mirror_dir) == expected
    assert (tmp_path / "local" / "README").read_bytes() == b"hello\n"
    assert _daemon_refs(mirror_dir.parent, mirror_dir.name) == expected
    smart = GitHttpServer(mirror_dir.parent)  # git http-backend, as CGI
    try:
        assert refs_of(f"{smart.url}/{mirror_dir.name}") == expected
        git("clone", "-q", f"{smart.url}/{mirror_dir.name}", tmp_path / "smart")
    finally:
        smart.stop()

    # Through a bundle to the inside: the imported copy is a repository too.
    res = run_cli("export", mirror_dir, "--to", tmp_path / "bundles", "--full")
    assert res.code == 0, res.stderr
    inside = tmp_path / "inside.git"
    res = run_cli("import", tmp_path / "bundles", "--into", inside)
    assert res.code == 0, res.stderr
    git(f"--git-dir={inside}", "fsck", "--no-dangling")
    git("clone", "-q", inside, tmp_path / "from-inside")
    assert refs_of(inside) == expected
    assert run_cli("verify", inside).code == 0


def test_work_repository_of_a_removed_repository_goes_after_the_grace_period(
    upstream_git: Upstream, mirror_dir: Path
) -> None:
    both = ("--repo", f"a.git={upstream_git.url}", "--repo", f"b/c.git={upstream_git.url}")
    assert run_cli("run", "git", "--dest", mirror_dir, *both).code == 0
    work = mirror_dir / ".mirrorkit" / "work" / "git"
    assert (work / "b" / "c.git" / "work.git").is_dir()
    only_a = ("run", "git", "--dest", mirror_dir, "--repo", f"a.git={upstream_git.url}")

    res = run_cli(*only_a, "--prune-grace", "3600")
    assert res.code == 0, res.stderr
    assert (work / "b" / "c.git" / "work.git").is_dir()  # within the grace period: kept
    assert (mirror_dir / "b" / "c.git" / "info" / "refs").is_file()

    res = run_cli("--log-level", "info", *only_a)
    assert res.code == 0, res.stderr
    assert "b/c.git: no longer mirrored; removing its work repository" in res.stderr
    assert not (work / "b").exists() and (work / "a.git" / "work.git").is_dir()
    assert not (mirror_dir / "b").exists()


def test_a_lost_work_repository_is_seeded_from_the_mirror(
    upstream_git: Upstream, mirror_dir: Path, static: StaticServer, tmp_path: Path
) -> None:
    _run(upstream_git, mirror_dir)
    packs = {p for p in _files(mirror_dir) if p.endswith((".pack", ".idx"))}
    work = mirror_dir / ".mirrorkit" / "work"

    # the work directory is gone (a mirror imported on another machine): the next run
    # starts from what the mirror publishes, so only the new commit travels
    shutil.rmtree(work)
    commit(upstream_git.work, "NEWS", b"news\n", "news")
    upstream_git.push("trunk")
    upstream_git.server.reset_count()
    report = _run(upstream_git, mirror_dir)
    assert upstream_git.server.bytes_sent < 5_000
    after = {p for p in _files(mirror_dir) if p.endswith((".pack", ".idx"))}
    assert packs < after and len(after - packs) == 2 and report["removed"] == 0
    assert refs_of(static.url) == refs_of(upstream_git.url)

    # a mirror that lost a pack cannot seed a repository git fetches into: fetched whole
    shutil.rmtree(work)
    for pack in packs:
        (mirror_dir / pack).unlink()
    upstream_git.server.reset_count()
    res = run_cli("run", "git", "--url", upstream_git.url, "--dest", mirror_dir, "--json")
    assert res.code == 0, res.stderr
    assert "fetching it whole" in res.stderr
    assert upstream_git.server.bytes_sent > 100_000  # the large file travelled again
    git("clone", "-q", static.url, tmp_path / "clone")
    assert (tmp_path / "clone" / "NEWS").read_bytes() == b"news\n"
    assert run_cli("verify", mirror_dir).code == 0
