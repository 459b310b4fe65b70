"""Planning a git mirror: update each work repository, then yield its files as artifacts.

Packs and idx files are blobs (committed first, named by their hash, so only new ones are
copied); the packs list, refs, ``HEAD`` and ``info/refs`` are index files committed after
every pack, ``info/refs`` last. A client therefore never reads a ref whose objects are not
yet published, and stale packs disappear only after the new refs are in place (the
engine's prune step). Reused by other plugins (Homebrew mirrors brew and its taps).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from mirrorkit.api import Artifact, Digest, Kind, PlanContext, PlanError

from .gitcmd import GitError, git, redact
from .options import RepoSpec
from .workrepo import ORDER_HEAD, ORDER_INFO_REFS, ORDER_PACKS_INFO, ORDER_REFS, WorkRepo
from .workrepo import published_files as work_files

__all__ = ["plan_repos", "work_dir_for"]

WORK_SUBDIR = "git"


def work_dir_for(ctx: PlanContext, path: str) -> Path:
    """The work repository behind mirror path ``path`` ("" is the mirror root)."""
    return ctx.work_dir / WORK_SUBDIR / (path or ".root") / "work.git"


def _join(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel


async def plan_repos(
    repos: Iterable[RepoSpec], ctx: PlanContext, *, max_packs: int = 16, full_repack: bool = False
) -> AsyncIterator[Artifact]:
    """Yield every file of every repository's dumb-HTTP mirror (see the module docstring)."""
    for repo in repos:
        try:
            if ctx.dry_run:
                async for art in _plan_dry(repo, ctx):
                    yield art
                continue
            work = WorkRepo(work_dir_for(ctx, repo.path))
            await work.ensure()
            head = await work.remote_head(repo.url)
            stats = await work.fetch(repo.url)
            await work.set_head(head)
            await work.tidy(max_packs=max_packs, full=full_repack)
        except GitError as exc:
            raise PlanError(f"git repository {repo.path or '<root>'}: {exc}") from None
        ctx.log.info("git %s: %d refs, fetched %d new pack(s), %d bytes, from %s",
                     repo.path or "<root>", stats.refs, stats.new_packs, stats.new_bytes,
                     redact(repo.url))
        for art in _artifacts(work.git_dir, repo.path, ctx):
            yield art


def _artifacts(git_dir: Path, prefix: str, ctx: PlanContext) -> list[Artifact]:
    out = []
    for f in work_files(git_dir):
        src = git_dir / f.relpath
        path = _join(prefix, f.relpath)
        if f.kind is Kind.BLOB:
            out.append(Artifact.local(path, src))
        else:
            sha = _sha256(src)
            _distinguish_mtime(src, sha, path, ctx)
            out.append(Artifact.local(path, src, kind=Kind.INDEX, digest=Digest.sha256(sha),
                                      order=f.order))
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _distinguish_mtime(src: Path, sha: str, path: str, ctx: PlanContext) -> None:
    """Make a changed index file look changed to the engine.

    The engine skips a local source whose size and whole-second mtime match the published
    copy. A ref file rewritten within the same second to the same length (one sha for
    another) would be skipped, so its mtime is moved past the published one.
    """
    prev = ctx.previous.files.get(path) if ctx.previous else None
    if prev is None or prev.sha256 == sha:
        return
    try:
        published = os.stat(ctx.dest / path).st_mtime
    except FileNotFoundError:
        return
    if int(os.stat(src).st_mtime) <= int(published):
        when = max(time.time(), int(published) + 1.0)
        os.utime(src, (when, when))


# ------------------------------------------------------------------------------- dry run
async def _remote_refs(url: str) -> dict[str, str]:
    out = await git(["ls-remote", "--refs", "--", url, "refs/heads/*", "refs/tags/*"],
                    what=f"listing refs of {redact(url)}")
    refs = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    return refs


def _mirrored_refs(info_refs: Path) -> dict[str, str]:
    try:
        text = info_refs.read_text()
    except FileNotFoundError:
        return {}
    refs = {}
    for line in text.splitlines():
        sha, _, name = line.partition("\t")
        if name and not name.endswith("^{}"):
            refs[name] = sha
    return refs


async def _plan_dry(repo: RepoSpec, ctx: PlanContext) -> AsyncIterator[Artifact]:
    """Say which refs would change; the size of the new objects is unknown until fetched."""
    remote = await _remote_refs(repo.url)
    mirrored = _mirrored_refs(ctx.dest / _join(repo.path, "info/refs"))
    added = sorted(set(remote) - set(mirrored))
    deleted = sorted(set(mirrored) - set(remote))
    moved = sorted(r for r in set(remote) & set(mirrored) if remote[r] != mirrored[r])
    where = repo.path or "<root>"
    if added or deleted or moved:
        ctx.log.warning("git %s: would add %d, update %d and delete %d refs (the size of new "
                        "objects is known only once fetched)", where, len(added), len(moved),
                        len(deleted))
    else:
        ctx.log.info("git %s: refs are up to date", where)
    if ctx.previous is None:
        return
    prefix = repo.path + "/" if repo.path else ""
    for path, entry in ctx.previous.files.items():
        if path.startswith(prefix) and (ctx.dest / path).is_file():
            yield Artifact.local(path, ctx.dest / path, kind=entry.kind, order=_order(path))


def _order(path: str) -> int:
    if path.endswith("info/refs") and not path.endswith("objects/info/refs"):
        return ORDER_INFO_REFS
    if path.endswith("HEAD"):
        return ORDER_HEAD
    if path.endswith("objects/info/packs"):
        return ORDER_PACKS_INFO
    return ORDER_REFS
