"""brew itself, taps, and portable-ruby: the git side of a Homebrew mirror.

brew is installed and updated with git (``HOMEBREW_BREW_GIT_REMOTE``; ``brew update`` checks
out the newest tag) and taps are git repositories, so both are mirrored as dumb-HTTP git
repositories by the git plugin's planner, under ``git/`` in the Homebrew mirror. brew also
needs portable-ruby on first run: its newest stable tag names the version
(``Library/Homebrew/vendor/portable-ruby-version``) and, per platform, the bottle tag and
sha256 (``portable-ruby-<arch>-<os>``: ``ruby_TAG=...`` / ``ruby_SHA=...``, sourced by brew's
``vendor-install.sh``). Those bottles are mirrored, for the platforms of the selected tags,
where brew looks for them: ``v2/homebrew/core/portable-ruby/blobs/sha256:<hex>``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

from mirrorkit.api import Artifact, PlanError
from mirrorkit.plugins.git.gitcmd import GitError, git
from mirrorkit.plugins.git.options import RepoSpec
from mirrorkit.plugins.git.planner import plan_repos, work_dir_for

from .brew_git_options import BrewGitOptions, tap_path
from .oci import OCI_ROOT
from .planner import HomebrewPlan
from .tags import ALL, BottleTag

__all__ = ["BREW_PATH", "BrewGitOptions", "BrewGitPlanner", "tap_path"]

BREW_PATH = "git/brew.git"
VENDOR = "Library/Homebrew/vendor"
PORTABLE_RUBY_IMAGE = "portable-ruby"

_STABLE_TAG = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_PLATFORM_FILE = re.compile(r"^portable-ruby-(arm64|x86_64)-(darwin|linux)$")
_ASSIGN = re.compile(r"^\s*ruby_(TAG|SHA)=[\"']?([A-Za-z0-9_]+)[\"']?\s*$")


def _platform_of(tag: str) -> str | None:
    """The ``portable-ruby-<arch>-<os>`` file a client on bottle tag ``tag`` reads."""
    if tag == ALL:
        return None
    parsed = BottleTag.parse(tag)
    if parsed.system == "linux":
        return f"portable-ruby-{parsed.arch}-linux"
    return f"portable-ruby-{parsed.arch}-darwin" if parsed.is_macos else None


class BrewGitPlanner:
    """Plans the brew and tap git mirrors (:meth:`prepare`), then yields the portable-ruby
    bottles brew needs (:meth:`plan`).

    The git mirrors are planned before the plan's checkpoint (``ctx.keep_previous_plan``),
    and each of their files goes through ``ctx.fetch_all`` instead of being yielded: what
    ``git fetch`` brought is not something the core sees, but the files made from it are,
    by content, so a changed repository is a changed input and the previous plan is not
    kept. The portable-ruby bottles are read from the brew repository those files publish,
    so they are decided by them too; they are yielded only after the checkpoint.
    """

    def __init__(self) -> None:
        self._ruby: list[Artifact] = []

    async def prepare(self, state: HomebrewPlan) -> None:
        opts, ctx = state.options, state.ctx
        repos = [RepoSpec(opts.brew_git_url, BREW_PATH)] if opts.brew_git else []
        base = opts.tap_base_url.rstrip("/")
        for tap in opts.taps:
            user, repo = tap.split("/", 1)
            repos.append(RepoSpec(f"{base}/{user}/homebrew-{repo}", tap_path(tap)))
        if not repos:
            return
        files = [art async for art in plan_repos(repos, ctx)]
        async for _art, _got in ctx.fetch_all(files):
            pass  # a file that could not be had is reported by the core, as a yielded one
        if not opts.brew_git:
            return
        if ctx.dry_run:  # no work repository to read: keep what the last run mirrored
            ctx.keep_previous(_previous_portable_ruby(state))
            return
        try:
            self._ruby = [art async for art in _portable_ruby(state)]
        except GitError as exc:
            raise PlanError(f"portable-ruby: {exc}") from None

    async def plan(self, state: HomebrewPlan) -> AsyncIterator[Artifact]:
        for art in self._ruby:
            yield art


async def _portable_ruby(state: HomebrewPlan) -> AsyncIterator[Artifact]:
    ctx, opts = state.ctx, state.options
    git_dir = work_dir_for(ctx, BREW_PATH)
    tags = (await git(["for-each-ref", "--format=%(refname:strip=2)", "refs/tags/"],
                      git_dir=git_dir)).split()
    stable = [t for t in tags if _STABLE_TAG.match(t)]
    if not stable:
        raise PlanError(f"{BREW_PATH}: brew's repository has no stable tag (like 4.6.0), so "
                        "the portable-ruby it needs is unknown")
    newest = max(stable, key=lambda t: tuple(int(x) for x in t.split(".")))
    version = (await _show(git_dir, newest, "portable-ruby-version")).strip()
    if not re.fullmatch(r"[0-9A-Za-z._]+", version):
        raise PlanError(f"{BREW_PATH}: {newest}:{VENDOR}/portable-ruby-version is not a version")
    names = (await git(["ls-tree", "--name-only", newest, f"{VENDOR}/"],
                       git_dir=git_dir)).split()
    available = {n.rsplit("/", 1)[1] for n in names if _PLATFORM_FILE.match(n.rsplit("/", 1)[1])}
    wanted = {p for p in map(_platform_of, state.tags) if p} if state.tags else available
    ctx.log.info("homebrew: brew %s needs portable-ruby %s; platforms %s", newest, version,
                 ", ".join(sorted(wanted)) or "none")
    seen: set[str] = set()
    for name in sorted(wanted):
        if name not in available:
            ctx.log.warning("homebrew: brew %s has no %s; clients on that platform cannot "
                            "install portable-ruby from this mirror", newest, name)
            continue
        ruby_tag, sha = _parse_platform(await _show(git_dir, newest, name), f"{newest}:{name}")
        blob = f"{OCI_ROOT}/{PORTABLE_RUBY_IMAGE}/blobs/sha256:{sha}"
        if blob in seen:
            continue
        seen.add(blob)
        yield Artifact.blob(blob, f"{opts.registry_url}/{PORTABLE_RUBY_IMAGE}/blobs/sha256:{sha}",
                            sha256=sha, auth=state.auth)
        if opts.flat_bottles:  # HOMEBREW_BOTTLE_DOMAIN clients ask for the file by name
            flat = f"{OCI_ROOT}/portable-ruby-{version}.{ruby_tag}.bottle.tar.gz"
            yield Artifact.link(flat, blob)


async def _show(git_dir: Path, tag: str, name: str) -> str:
    return await git(["cat-file", "-p", f"{tag}:{VENDOR}/{name}"], git_dir=git_dir,
                     what=f"reading {VENDOR}/{name} at brew {tag}")


def _parse_platform(text: str, where: str) -> tuple[str, str]:
    """``ruby_TAG=arm64_big_sur`` / ``ruby_SHA=<sha256>`` -> (tag, sha)."""
    values = {}
    for line in text.splitlines():
        m = _ASSIGN.match(line)
        if m:
            values[m.group(1)] = m.group(2)
    tag, sha = values.get("TAG"), values.get("SHA")
    if not tag or not sha or not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise PlanError(f"{BREW_PATH}: {where} does not give ruby_TAG and a sha256 ruby_SHA")
    return tag, sha


def _previous_portable_ruby(state: HomebrewPlan) -> list[str]:
    ctx = state.ctx
    if ctx.previous is None:
        return []
    prefixes = (f"{OCI_ROOT}/{PORTABLE_RUBY_IMAGE}/", f"{OCI_ROOT}/portable-ruby-")
    return [path for path, entry in ctx.previous.files.items()
            if path.startswith(prefixes) and entry.stale_since is None]
