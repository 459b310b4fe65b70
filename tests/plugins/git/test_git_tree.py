"""End to end: `mirrorkit run git-tree` against a fake GitHub-style hosting API on loopback."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugins.git.fake_github import FakeGitHub
from tests.plugins.git.gitutil import commit, git
from tests.plugins.git.servers import GitHttpServer
from tests.support.cli import Result, run_cli
from tests.support.upstream import Upstream


@pytest.fixture
def hub(upstream: Upstream) -> FakeGitHub:
    hub = FakeGitHub(upstream)
    hub.files = {
        "README.md": b"# tools\n",
        "bin/run": b"#!/bin/sh\necho run\n",
        "lib/a/deep.txt": b"deep " * 1000,
        "data.bin": bytes(range(256)) * 40,
    }
    hub.symlinks = {"latest": "bin/run"}
    hub.publish()
    return hub


def _run(hub: FakeGitHub, dest: Path, *extra: str, env: dict[str, str] | None = None,
         log_level: str = "warning") -> Result:
    return run_cli("--log-level", log_level, "run", "git-tree", "--repo", "acme/tools",
                   "--api-url", hub.api_url, "--raw-url", hub.raw_url, "--dest", dest,
                   "--retries", "2", "--backoff-initial", "0", "--json", *extra, env=env)


def _tree(dest: Path) -> dict[str, bytes]:
    return {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*")
            if p.is_file() and ".mirrorkit" not in p.parts}


def test_mirrors_one_ref_and_then_downloads_only_changed_files(
    hub: FakeGitHub, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    res = _run(hub, dest)
    assert res.code == 0, res.stderr
    assert _tree(dest) == hub.files  # the symbolic link is skipped
    assert sorted(hub.raw_requests()) == sorted(hub.files)

    hub.files["README.md"] = b"# tools, version 2\n"
    hub.files["new/file.txt"] = b"new\n"
    del hub.files["data.bin"]
    hub.publish()
    hub.up.clear_log()
    res = _run(hub, dest)
    assert res.code == 0, res.stderr
    assert sorted(hub.raw_requests()) == ["README.md", "new/file.txt"]
    assert res.json["downloaded"] == 2 and res.json["removed"] == 1
    assert _tree(dest) == hub.files

    hub.up.clear_log()
    res = _run(hub, dest)
    assert res.code == 0 and res.json["downloaded"] == 0
    assert hub.raw_requests() == []


def test_a_file_that_does_not_match_its_blob_sha1_is_refused(
    hub: FakeGitHub, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    bad = f"/raw/acme/tools/{hub.commit}/bin/run"
    hub.up.add(bad, b"#!/bin/sh\nrm -rf /\n")  # same length would not help: sha1 differs
    res = _run(hub, dest)
    assert res.code == 1
    assert "bin/run" in res.stderr and "git-blob-sha1 mismatch" in res.stderr
    assert res.json["status"] == "failed"
    assert not (dest / "bin" / "run").exists()
    assert len(hub.up.requests(bad)) == 3  # the first try and two retries


def test_rate_limits_are_waited_out(hub: FakeGitHub, tmp_path: Path) -> None:
    hub.rate_limited = 1  # 403, X-RateLimit-Remaining: 0, X-RateLimit-Reset: now + 1s
    hub.up.fault(f"/raw/acme/tools/{hub.commit}/README.md", "status", code=429,
                 retry_after="1")
    started = time.monotonic()
    res = _run(hub, tmp_path / "mirror", "--max-retry-after", "10")
    assert res.code == 0, res.stderr
    assert time.monotonic() - started >= 1.0
    assert _tree(tmp_path / "mirror") == hub.files
    api_calls = hub.up.requests("/api/")
    assert len(api_calls) == 4  # repository, commit, tree + the rate-limited first try


def test_token_is_sent_and_never_logged(hub: FakeGitHub, tmp_path: Path) -> None:
    token = "ghp_s3cretT0kenValue"
    dest = tmp_path / "mirror"
    hub.up.fault(f"/raw/acme/tools/{hub.commit}/README.md", "status", code=500)
    res = _run(hub, dest, "--token-env", "TOOLS_TOKEN", "--ref", "main",
               env={"TOOLS_TOKEN": token}, log_level="debug")
    assert res.code == 0, res.stderr
    assert all(r.headers.get("Authorization") == f"Bearer {token}" for r in hub.up.log)
    assert token not in res.stdout + res.stderr
    assert not any(token.encode() in p.read_bytes() for p in dest.rglob("*") if p.is_file())

    res = _run(hub, dest, "--token-env", "UNSET_TOKEN_VAR")
    assert res.code == 1 and "UNSET_TOKEN_VAR is not set" in res.stderr


def test_truncated_listing_is_walked_directory_by_directory(
    hub: FakeGitHub, tmp_path: Path
) -> None:
    hub.truncate = True
    res = _run(hub, tmp_path / "mirror", "--include", "lib", "--path", "vendor/tools")
    assert res.code == 0, res.stderr
    assert _tree(tmp_path / "mirror") == {"vendor/tools/lib/a/deep.txt": b"deep " * 1000}


def test_bad_options_are_one_line_each(tmp_path: Path) -> None:
    res = run_cli("run", "git-tree", "--repo", "not a repo", "--raw-url", "http://x/{nope}",
                  "--dest", tmp_path / "m")
    assert res.code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2 and "--repo" in lines[0] and "{path}" in lines[1], res.stderr


@dataclass
class HubGit:
    template: str  # for --clone-url
    work: Path  # a clone that pushes to the served repository

    def commit(self, path: str, content: bytes) -> None:
        commit(self.work, path, content, f"change {path}")
        git("push", "-q", "origin", "main", cwd=self.work)


@pytest.fixture
def hub_git(hub: FakeGitHub, tmp_path: Path, git_home: Path) -> Iterator[HubGit]:
    """The same repository over git (smart HTTP): its main branch holds ``hub.files`` and the
    symbolic link."""
    work = tmp_path / "tools-work"
    git("init", "-q", "-b", "main", work)
    for path, content in hub.files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(content)
    for path, target in hub.symlinks.items():
        os.symlink(target, work / path)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "tools", cwd=work)
    root = tmp_path / "git-upstream"
    git("clone", "-q", "--bare", work, root / "acme" / "tools.git")
    git("remote", "add", "origin", root / "acme" / "tools.git", cwd=work)
    server = GitHttpServer(root)
    try:
        yield HubGit(server.url + "/{owner}/{repo}.git", work)
    finally:
        server.stop()


def _manifest_digests(dest: Path) -> dict[str, tuple[str, str | None]]:
    files = json.loads((dest / ".mirrorkit" / "manifest.json").read_text())["files"]
    return {p: (e["sha256"], e.get("digest")) for p, e in files.items()}


def test_a_rate_limit_beyond_the_patience_falls_back_to_a_clone_at_once(
    hub: FakeGitHub, hub_git: HubGit, tmp_path: Path
) -> None:
    by_api = tmp_path / "by-api"
    assert _run(hub, by_api).code == 0
    hub.up.clear_log()
    hub.rate_limited, hub.reset_in = 100, 3600
    dest = tmp_path / "mirror"
    res = _run(hub, dest, "--clone-url", hub_git.template, "--rate-limit-patience", "30",
               log_level="info")
    assert res.code == 0, res.stderr
    assert len(hub.up.requests("/api/")) == 1  # no waiting, no retry: fell back at once
    assert "fell back to a shallow git clone" in res.stderr
    assert res.json["notes"]["git-tree"]["fell_back"] is True
    assert hub.raw_requests() == []  # every byte came from the clone
    assert _tree(dest) == _tree(by_api) == hub.files  # the symbolic link skipped alike
    assert _manifest_digests(dest) == _manifest_digests(by_api)

    # The API is back: an unchanged re-run through it downloads nothing.
    hub.rate_limited = 0
    hub.up.clear_log()
    res = _run(hub, dest, "--clone-url", hub_git.template)
    assert res.code == 0, res.stderr
    assert res.json["downloaded"] == 0 and res.json["removed"] == 0
    assert hub.raw_requests() == [] and "git-tree" not in res.json["notes"]


@pytest.mark.parametrize("failure", ["500s", "no-trees-endpoint"])
def test_api_failures_fall_back_to_the_same_tree(
    hub: FakeGitHub, hub_git: HubGit, tmp_path: Path, failure: str
) -> None:
    dest = tmp_path / "mirror"
    assert _run(hub, dest).code == 0  # a first run through the API
    hub.files["README.md"] = b"# tools, changed in git and the API alike\n"
    if failure == "500s":
        hub.errors = [500] * 3  # the first try and both retries of the first call
    else:
        hub.trees_status = 404
    hub_git.commit("README.md", hub.files["README.md"])
    res = _run(hub, dest, "--ref", "main", "--clone-url", hub_git.template)
    assert res.code == 0, res.stderr
    assert res.json["notes"]["git-tree"]["fell_back"] is True and "fell back" in res.stderr
    assert res.json["copied"] == 1  # only the changed file, read from the clone
    assert _tree(dest) == hub.files
    assert run_cli("verify", dest).code == 0


def test_without_a_clone_url_an_api_failure_is_one_line(hub: FakeGitHub, tmp_path: Path) -> None:
    hub.trees_status = 404
    res = _run(hub, tmp_path / "mirror")
    assert res.code == 1 and "HTTP 404" in res.stderr and "fell back" not in res.stderr
