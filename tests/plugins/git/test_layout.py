"""What a work repository publishes, in which role, and in which commit order."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorkit.core.plan.artifact import Kind
from mirrorkit.plugins.git.options import GitOptions
from mirrorkit.plugins.git.workrepo import published_files
from tests.plugins.git.gitutil import commit, git


def test_packs_are_blobs_and_info_refs_commits_last(tmp_path: Path, git_home: Path) -> None:
    work = tmp_path / "w"
    git("init", "-q", "-b", "main", work)
    commit(work, "a", b"a\n", "a")
    bare = tmp_path / "b.git"
    git("clone", "-q", "--bare", work, bare)
    git("repack", "-a", "-d", "-q", cwd=bare)
    git("pack-refs", "--all", cwd=bare)
    git("update-server-info", cwd=bare)
    files = published_files(bare)
    roles = {f.relpath: (f.kind, f.order) for f in files}
    packs = [p for p in roles if p.startswith("objects/pack/")]
    assert len(packs) == 2 and all(roles[p][0] is Kind.BLOB for p in packs)
    order = [p for p, _ in sorted(((p, r[1]) for p, r in roles.items() if r[0] is Kind.INDEX),
                                  key=lambda item: item[1])]
    assert order == ["objects/info/packs", "packed-refs", "HEAD", "info/refs"]
    assert not any(p in roles for p in ("config", "description", "hooks"))


def test_repository_layout_is_checked() -> None:
    opts = GitOptions.model_validate({"repos": ["a.git=http://x/a", "b/c.git=http://x/c"]})
    assert [(r.path, r.url) for r in opts.repo_specs()] == [("a.git", "http://x/a"),
                                                           ("b/c.git", "http://x/c")]
    with pytest.raises(ValueError, match=r"inside repository 'a\.git'"):
        GitOptions.model_validate({"repos": ["a.git=http://x/a", "a.git/sub=http://x/c"]})
    with pytest.raises(ValueError, match="two repositories"):
        GitOptions.model_validate({"repos": ["a=http://x/a", "a/=http://x/c"]})
    with pytest.raises(ValueError, match="reserved"):
        GitOptions.model_validate({"url": "http://x/a", "path": ".mirrorkit/x"})
