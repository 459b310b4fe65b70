"""The tree of one ref taken from a shallow clone: git-tree's way round a failing API.

When the hosting API is rate-limited past the operator's patience, keeps answering 5xx or
has no trees endpoint, the same tree can be had over git itself: a depth-1 fetch of the one
ref into a scratch bare repository, ``git ls-tree -r -l`` for the listing (the same modes,
blob SHA-1s and sizes the API gives), and ``git cat-file --batch`` for the bytes of the
files the mirror lacks. Blobs are read raw, never checked out, so no attribute, filter or
line-ending rule can change a byte: the result is identical to the API path and verified by
the same git blob SHA-1.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .gitcmd import GitError, git, git_env, redact

__all__ = ["ClonedTree", "TreeEntry", "clone_tree", "extract_blobs"]


@dataclass(frozen=True, slots=True)
class TreeEntry:
    mode: str
    type: str
    sha: str
    size: int | None  # None for trees and submodules
    path: str


@dataclass(frozen=True, slots=True)
class ClonedTree:
    commit: str
    entries: list[TreeEntry]
    git_dir: Path


def _auth_env(url: str, token: str | None) -> dict[str, str]:
    """The token as an HTTP header for the clone URL's host, through the environment (a
    command-line ``-c`` would show it in ``ps``). Hosts take it as Basic ``x-access-token``."""
    if not token:
        return {}
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {"GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{parts.scheme}://{parts.netloc}/.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"}


def _parse_ls_tree(out: bytes) -> list[TreeEntry]:
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, sha, size = meta.decode().split()
        entries.append(TreeEntry(mode, kind, sha, int(size) if size.isdigit() else None,
                                 path.decode("utf-8", "surrogateescape")))
    return entries


async def clone_tree(url: str, ref: str | None, scratch: Path, token: str | None) -> ClonedTree:
    """Fetch ``ref`` (upstream's HEAD when None) at depth 1 and list its tree."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    gd = scratch / "clone.git"
    await git(["init", "--bare", "--quiet", "--template=", str(gd)], what="git init")
    env = _auth_env(url, token)
    what = f"shallow clone of {redact(url)} at {ref or 'HEAD'}"
    await git(["fetch", "--depth=1", "--no-tags", "--quiet", "--no-write-fetch-head", "--",
               url, f"+{ref or 'HEAD'}:refs/mirrorkit/tree"], git_dir=gd, env=env, what=what)
    commit = (await git(["rev-parse", "--verify", "refs/mirrorkit/tree^{commit}"],
                        git_dir=gd, what=what)).strip()
    listing = subprocess.run(["git", f"--git-dir={gd}", "ls-tree", "-r", "-l", "-z", commit],
                             capture_output=True, env=git_env(), check=False)
    if listing.returncode != 0:
        raise GitError(f"{what}: ls-tree: {listing.stderr.decode(errors='replace').strip()}")
    return ClonedTree(commit, _parse_ls_tree(listing.stdout), gd)


def extract_blobs(git_dir: Path, shas: list[str], out: Path) -> None:
    """Write each blob's raw bytes to ``out/<sha>``, streaming (one object at a time)."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=git_env())
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for sha in dict.fromkeys(shas):
            proc.stdin.write(f"{sha}\n".encode())
            proc.stdin.flush()  # cat-file answers each object before reading the next line
            header = proc.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob":
                raise GitError(f"blob {sha} is missing from the shallow clone")
            left = int(header[2])
            with open(out / sha, "wb") as fh:
                while left:
                    chunk = proc.stdout.read(min(left, 1024 * 1024))
                    if not chunk:
                        raise GitError(f"blob {sha}: git cat-file ended early")
                    fh.write(chunk)
                    left -= len(chunk)
            proc.stdout.read(1)  # the newline after each object
    finally:
        proc.stdin.close()
        proc.wait()
