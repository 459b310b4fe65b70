"""Real git repositories for tests, isolated from the user's git configuration."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def isolated_git_env(home: Path) -> dict[str, str]:
    """Variables that keep the user's and the system's git config out of a test."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "GIT_TERMINAL_PROMPT": "0",
    }


def git(*args: str | Path, cwd: Path | None = None) -> str:
    """Run git (the environment is already isolated by the fixture) and return stdout."""
    proc = subprocess.run(["git", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          check=False, env=os.environ.copy())
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(map(str, args))} failed: {proc.stderr.strip()}")
    return proc.stdout


def commit(work: Path, name: str, content: bytes, message: str) -> str:
    (work / name).parent.mkdir(parents=True, exist_ok=True)
    (work / name).write_bytes(content)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


def refs_of(url_or_path: str | Path) -> dict[str, str]:
    """Every ref (with peeled tags) that ``git ls-remote`` sees, except HEAD."""
    out = git("ls-remote", str(url_or_path))
    refs = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name != "HEAD":
            refs[name] = sha
    return refs
