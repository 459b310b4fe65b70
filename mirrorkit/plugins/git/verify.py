"""``mirrorkit verify`` for git mirrors: are the published refs complete in git's eyes?

The core re-hashes every file against the manifest; this adds what only git can say: every
object reachable from the published refs is present (``git fsck --connectivity-only``), and
every ref a dumb-HTTP client reads in ``info/refs`` names an object the mirror has. The check
runs in a scratch repository that borrows the mirror's objects through ``alternates``, so the
mirror is only read.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from mirrorkit.api import Manifest

from .gitcmd import git_env

__all__ = ["git_roots", "verify_git_mirror"]


def git_roots(manifest: Manifest) -> list[str]:
    """Mirror paths that hold a published repository ("" for the mirror root)."""
    roots = []
    for path in manifest.files:
        if path == "info/refs" or path.endswith("/info/refs"):
            root = path[: -len("info/refs")].rstrip("/")
            prefix = root + "/" if root else ""
            if f"{prefix}HEAD" in manifest.files:
                roots.append(root)
    return sorted(roots)


def _run(args: list[str], git_dir: Path,
         stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True,
                          env=git_env(), input=stdin, check=False)


def _check_repo(repo: Path, label: str) -> list[str]:
    if not (repo / "objects").is_dir():
        return [f"git {label}: no objects directory"]
    scratch = Path(tempfile.mkdtemp(prefix="mirrorkit-gitverify-"))
    try:
        gd = scratch / "check.git"
        init = subprocess.run(["git", "init", "--bare", "--quiet", str(gd)], capture_output=True,
                              text=True, env=git_env(), check=False)
        if init.returncode != 0:
            return [f"git {label}: cannot create a scratch repository: {init.stderr.strip()}"]
        (gd / "objects" / "info" / "alternates").write_text(f"{(repo / 'objects').resolve()}\n")
        for name in ("HEAD", "packed-refs"):
            if (repo / name).is_file():
                shutil.copyfile(repo / name, gd / name)
        if (repo / "refs").is_dir():
            shutil.copytree(repo / "refs", gd / "refs", dirs_exist_ok=True)
        problems = []
        fsck = _run(["fsck", "--connectivity-only", "--no-dangling", "--no-progress"], gd)
        if fsck.returncode != 0:
            lines = [ln for ln in (fsck.stdout + fsck.stderr).splitlines() if ln.strip()]
            problems += [f"git {label}: fsck: {ln.strip()}" for ln in lines[:20]]
            if not lines:
                problems.append(f"git {label}: fsck failed (exit {fsck.returncode})")
        problems += _check_info_refs(repo, gd, label)
        return problems
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _check_info_refs(repo: Path, gd: Path, label: str) -> list[str]:
    try:
        lines = (repo / "info" / "refs").read_text().splitlines()
    except (FileNotFoundError, UnicodeDecodeError) as exc:
        return [f"git {label}: info/refs unreadable ({exc})"]
    wanted = [line.split("\t", 1) for line in lines if "\t" in line]
    if not wanted:
        return []
    check = _run(["cat-file", "--batch-check=%(objectname)"], gd,
                 stdin="".join(f"{sha}\n" for sha, _ in wanted))
    answers = check.stdout.splitlines()
    return [f"git {label}: info/refs: {name} names missing object {sha}"
            for (sha, name), answer in zip(wanted, answers, strict=False)
            if answer.endswith(" missing")]


def verify_git_mirror(dest: Path, manifest: Manifest) -> list[str] | None:
    roots = git_roots(manifest)
    if not roots:
        return None
    problems: list[str] = []
    for root in roots:
        try:
            problems += _check_repo(dest / root if root else dest, root or "<root>")
        except FileNotFoundError:
            return ["git: cannot check the git repositories: git is not installed"]
    return problems
