"""Planning a git mirror: update each work repository, then yield its files as artifacts.

Packs and idx files are blobs (committed first, named by their hash, so only new ones are
copied); the packs list, refs, ``HEAD`` and ``info/refs`` are index files committed after
every pack, ``info/refs`` last. A client therefore never reads a ref whose objects are not
yet published, and stale packs disappear only after the new refs are in place (the
engine's prune step). Reused by other plugins (Homebrew mirrors brew and its taps).

A work repository that is missing or empty (every run into a bucket, a mirror imported
elsewhere) is first seeded from the files the mirror publishes (:mod:`.seed`), so the fetch
stays incremental and the published packs keep their names.

What this planner remembers between runs is in the plugin state (``ctx.state``): since when
a work repository is no longer mirrored, and the LFS pointers found per repository.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from mirrorkit.api import Artifact, Digest, Kind, PlanContext, PlanError

from .gitcmd import GitError, git, redact
from .lfs import PointerScans, lfs_endpoint, plan_lfs
from .options import RepoSpec
from .seed import Seeded, seed_work_repo
from .workrepo import ORDER_HEAD, ORDER_INFO_REFS, ORDER_PACKS_INFO, ORDER_REFS, WorkRepo
from .workrepo import published_files as work_files

__all__ = ["plan_repos", "work_dir_for"]

WORK_SUBDIR = "git"
_ROOT_NAME = ".root"
#: plugin state: mirror path of a work repository no longer mirrored -> since when (epoch)
_ORPHANS = "git-orphans.json"
_ORPHANS_VERSION = 1


def work_dir_for(ctx: PlanContext, path: str) -> Path:
    """The work repository behind mirror path ``path`` ("" is the mirror root)."""
    return ctx.work_dir / WORK_SUBDIR / (path or _ROOT_NAME) / "work.git"


def _join(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel


async def plan_repos(
    repos: Iterable[RepoSpec], ctx: PlanContext, *, max_packs: int = 16,
    full_repack: bool = False, lfs: bool = False, lfs_history: bool = False,
) -> AsyncIterator[Artifact]:
    """Yield every file of every repository's dumb-HTTP mirror (see the module docstring).

    ``lfs``: also the LFS objects the branch and tag tips need (``lfs_history``: that any
    commit needs). ``repos`` is every repository of the mirror: work repositories of others
    are removed once the grace period of their published files has passed.
    """
    repos = list(repos)
    if not ctx.dry_run:
        await _clean_orphans(ctx, {r.path for r in repos})
    scans = await PointerScans.load(ctx) if lfs else None
    for repo in repos:
        try:
            if ctx.dry_run:
                async for art in _plan_dry(repo, ctx):
                    yield art
                continue
            if lfs:
                lfs_endpoint(repo.url)  # a remote without one is a config error: say so first
            work, seeded = await _update(ctx, repo, max_packs=max_packs, full=full_repack)
        except GitError as exc:
            raise PlanError(f"git repository {repo.path or '<root>'}: {exc}") from None
        if scans is not None:
            async for art in plan_lfs(repo.url, work.git_dir, scans, repo.path, ctx,
                                      history=lfs_history):
                yield art
        for art in _artifacts(work.git_dir, repo.path, ctx, seeded):
            yield art
    if scans is not None:
        scans.save(ctx)
    else:
        PointerScans.drop(ctx)


async def _update(ctx: PlanContext, repo: RepoSpec, *, max_packs: int,
                  full: bool) -> tuple[WorkRepo, Seeded]:
    """Bring the repository's work repository up to date with upstream."""
    work = WorkRepo(work_dir_for(ctx, repo.path))
    await work.ensure()
    seeded = Seeded()
    if work.is_empty():
        seeded = await seed_work_repo(ctx, work.git_dir, repo.path)
    head = await work.remote_head(repo.url)
    try:
        stats = await work.fetch(repo.url)
    except GitError as exc:
        if not seeded.files:
            raise
        # what the mirror published does not make a repository git can fetch into (a file
        # of it lost): start from nothing, as a first run would
        ctx.log.warning("git %s: fetching into the repository seeded from the mirror failed "
                        "(%s); fetching it whole", repo.path or "<root>", exc)
        shutil.rmtree(work.git_dir)
        await work.ensure()
        seeded = Seeded()
        stats = await work.fetch(repo.url)
    await work.set_head(head)
    await work.tidy(max_packs=max_packs, full=full)
    ctx.log.info("git %s: %d refs, fetched %d new pack(s), %d bytes, from %s",
                 repo.path or "<root>", stats.refs, stats.new_packs, stats.new_bytes,
                 redact(repo.url))
    return work, seeded


async def _clean_orphans(ctx: PlanContext, paths: set[str]) -> None:
    """Remove work repositories of repositories no longer in the mirror.

    The first run without a repository marks its work repository; a run at least
    ``prune_grace`` seconds later (the same run when there is no grace) removes it, so a
    repository put back within the grace period is not fetched again from scratch.
    """
    saved = await ctx.state.read_json(_ORPHANS, version=_ORPHANS_VERSION)
    marked: dict[str, float] = {}
    if isinstance(saved, dict):
        marked = {k: float(v) for k, v in saved.items() if isinstance(v, (int, float))}
    pending: dict[str, float] = {}
    base = ctx.work_dir / WORK_SUBDIR
    now = time.time()
    for work in sorted(base.glob("**/work.git")) if base.is_dir() else []:
        holder = work.parent
        rel = holder.relative_to(base).as_posix()
        path = "" if rel == _ROOT_NAME else rel
        if path in paths:
            continue
        since = marked.get(path, now)
        if now - since < ctx.prune_grace:
            pending[path] = since
            continue
        ctx.log.info("git %s: no longer mirrored; removing its work repository",
                     path or "<root>")
        shutil.rmtree(holder, ignore_errors=True)
        for parent in holder.parents:  # directories of nested paths, now empty
            if parent == base or not parent.is_relative_to(base):
                break
            try:
                parent.rmdir()
            except OSError:
                break
    if pending:
        ctx.state.write_json(_ORPHANS, pending, version=_ORPHANS_VERSION)
    else:
        ctx.state.delete(_ORPHANS)


def _artifacts(git_dir: Path, prefix: str, ctx: PlanContext, seeded: Seeded) -> list[Artifact]:
    out = []
    kept: list[tuple[str, Path]] = []
    for f in work_files(git_dir):
        src = git_dir / f.relpath
        path = _join(prefix, f.relpath)
        if f.kind is Kind.BLOB:
            if seeded.unchanged(git_dir, f.relpath):
                kept.append((path, src))  # the published bytes, copied back: nothing to do
            else:
                out.append(Artifact.local(path, src))
        else:
            sha = _sha256(src)
            out.append(Artifact.local(path, src, kind=Kind.INDEX, digest=Digest.sha256(sha),
                                      order=f.order))
    if kept and not ctx.keep_previous([path for path, _ in kept]):
        out += [Artifact.local(path, src) for path, src in kept]
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------- dry run
async def _remote_refs(url: str) -> dict[str, str]:
    out = await git(["ls-remote", "--refs", "--", url, "refs/heads/*", "refs/tags/*"],
                    what=f"listing refs of {redact(url)}")
    refs = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    return refs


async def _mirrored_refs(ctx: PlanContext, path: str) -> dict[str, str]:
    info_refs = await ctx.previous_file(path)
    if info_refs is None:
        return {}
    text = info_refs.read_text()
    refs = {}
    for line in text.splitlines():
        sha, _, name = line.partition("\t")
        if name and not name.endswith("^{}"):
            refs[name] = sha
    return refs


async def _plan_dry(repo: RepoSpec, ctx: PlanContext) -> AsyncIterator[Artifact]:
    """Say which refs would change; the size of the new objects is unknown until fetched."""
    remote = await _remote_refs(repo.url)
    mirrored = await _mirrored_refs(ctx, _join(repo.path, "info/refs"))
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
    ctx.keep_previous([path for path in ctx.previous.files if path.startswith(prefix)],
                      all_or_nothing=False)
    return
    yield  # an async generator that keeps what the last run mirrored


def _order(path: str) -> int:
    if path.endswith("info/refs") and not path.endswith("objects/info/refs"):
        return ORDER_INFO_REFS
    if path.endswith("HEAD"):
        return ORDER_HEAD
    if path.endswith("objects/info/packs"):
        return ORDER_PACKS_INFO
    return ORDER_REFS
