"""The private bare repository a git mirror is built from, kept between runs.

Each run fetches into it (only what is new, negotiated by git), follows deletions and force
pushes, keeps every object in packs (a pack is named by its hash, so a published pack never
changes: the engine copies only new ones), and refreshes what dumb-HTTP clients read
(``info/refs``, ``objects/info/packs``, ``packed-refs``). The mirror is a copy of a subset of
its files; see :func:`published_files`.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import anyio

from mirrorkit.api import Kind

from .gitcmd import GitError, git, redact

__all__ = ["REFS_KEEP", "FetchStats", "PublishedFile", "WorkRepo", "published_files"]

log = logging.getLogger("mirrorkit.registry.git")

REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")

#: Settings of the work repository: packs as fetched, no background gc, no reflogs.
_CONFIG = {
    "gc.auto": "0",
    "maintenance.auto": "false",
    "fetch.unpackLimit": "1",
    "transfer.unpackLimit": "1",
    "core.logAllRefUpdates": "false",
    "fetch.writeCommitGraph": "false",
    "http.lowSpeedLimit": "1",
    "http.lowSpeedTime": "120",
}

#: Index files, in commit order: the packs list before the refs, ``info/refs`` (what a dumb
#: client reads first) last.
ORDER_PACKS_INFO, ORDER_REFS, ORDER_HEAD, ORDER_INFO_REFS = 0, 1, 2, 3

#: An empty file the mirror carries so that its ``refs/`` directory exists: git accepts a
#: directory as a repository only with ``HEAD``, ``objects/`` and ``refs/``, and manifests,
#: S3 and bundles carry files, not empty directories. git ignores names starting with a dot
#: in ``refs/``, so it is never read as a ref.
REFS_KEEP = "refs/heads/.keep"

_LOOSE_DIR = re.compile(r"[0-9a-f]{2}")
_PACK = re.compile(r"pack-[0-9a-f]{40,64}\.(pack|idx)")
_FETCH_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class FetchStats:
    new_packs: int
    new_bytes: int
    refs: int


@dataclass(frozen=True, slots=True)
class PublishedFile:
    relpath: str
    kind: Kind
    order: int = 0


class WorkRepo:
    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir

    async def _git(self, *args: str, what: str = "") -> str:
        return await git(list(args), git_dir=self.git_dir, what=what)

    async def ensure(self) -> None:
        """Create the bare repository once; clear what a killed run left behind."""
        if not (self.git_dir / "HEAD").is_file():
            self.git_dir.mkdir(parents=True, exist_ok=True)
            await git(["init", "--bare", "--quiet", "--template=", str(self.git_dir)],
                      what="git init")
        for key, value in _CONFIG.items():
            await self._git("config", key, value)
        keep = self.git_dir / REFS_KEEP
        if not keep.is_file():
            keep.parent.mkdir(parents=True, exist_ok=True)
            keep.touch()
        self._remove_stale_locks()

    def _remove_stale_locks(self) -> None:
        """We hold the mirror lock, so any git lock file or temp pack here is a dead run's."""
        for dirpath, _dirs, files in os.walk(self.git_dir):
            for name in files:
                if name.endswith(".lock") or name.startswith(("tmp_", ".tmp-")):
                    os.unlink(os.path.join(dirpath, name))

    def is_empty(self) -> bool:
        """No object and no ref yet: a new repository, or one a killed first run left."""
        if self.packs() or (self.git_dir / "packed-refs").is_file():
            return False
        objects = self.git_dir / "objects"
        if objects.is_dir() and any(sub.is_dir() and _LOOSE_DIR.fullmatch(sub.name)
                                    and any(sub.iterdir()) for sub in objects.iterdir()):
            return False
        refs = self.git_dir / "refs"
        for _dirpath, _dirs, files in os.walk(refs):
            if any(not name.startswith(".") for name in files):
                return False
        return True

    def packs(self) -> dict[str, int]:
        pack_dir = self.git_dir / "objects" / "pack"
        if not pack_dir.is_dir():
            return {}
        return {p.name: p.stat().st_size for p in pack_dir.glob("pack-*.pack")}

    async def remote_head(self, url: str) -> str | None:
        """The branch upstream's HEAD names (``refs/heads/main``), if upstream says."""
        out = await self._git("ls-remote", "--symref", "--", url, "HEAD",
                              what=f"reading HEAD of {redact(url)}")
        for line in out.splitlines():
            if line.startswith("ref: ") and line.endswith("\tHEAD"):
                return line[5:-5]
        return None

    async def fetch(self, url: str) -> FetchStats:
        """Fetch every branch and tag, pruning and forcing; retried on transient failures."""
        before = self.packs()
        what = f"fetching {redact(url)}"
        for attempt in range(1, _FETCH_ATTEMPTS + 1):
            try:
                await self._git("fetch", "--prune", "--force", "--quiet", "--no-write-fetch-head",
                                "--", url, *REFSPECS, what=what)
                break
            except GitError as exc:
                if attempt == _FETCH_ATTEMPTS or not _transient(str(exc)):
                    raise
                log.info("%s (attempt %d); retrying", exc, attempt)
                await anyio.sleep(2.0 * attempt)
        after = self.packs()
        new = {k: v for k, v in after.items() if k not in before}
        refs = await self._git("for-each-ref", "--format=%(refname)")
        return FetchStats(new_packs=len(new), new_bytes=sum(new.values()),
                          refs=len(refs.splitlines()))

    async def set_head(self, target: str | None) -> None:
        """Point HEAD where upstream's does, or at a branch that exists (main, master, ...)."""
        branches = (await self._git("for-each-ref", "--format=%(refname)",
                                    "refs/heads/")).split()
        if target is None or target not in branches:
            current = (await self._git("symbolic-ref", "-q", "HEAD")).strip()
            if current in branches or not branches:
                return
            known: tuple[str, ...] = ("refs/heads/main", "refs/heads/master")
            preferred = [b for b in known if b in branches]
            target = (preferred or sorted(branches))[0]
        await self._git("symbolic-ref", "HEAD", target)

    async def tidy(self, *, max_packs: int, full: bool) -> None:
        """Keep objects packed, refs packed, and the dumb-HTTP info files current."""
        counts = dict(line.split(": ", 1) for line in
                      (await self._git("count-objects", "-v")).splitlines() if ": " in line)
        if full:
            await self._git("repack", "-a", "-d", "-q", what="git repack -a -d")
        else:
            if int(counts.get("count", "0")) > 0:
                await self._git("repack", "-d", "-q", what="git repack -d")
            if len(self.packs()) > max_packs:
                await self._git("repack", "-d", "-q", "--geometric=2",
                                what="git repack --geometric=2")
        await self._git("pack-refs", "--all", "--prune")
        await self._git("update-server-info")


def _transient(message: str) -> bool:
    """Network trouble worth another try, as opposed to a wrong URL, missing credentials, a
    host name that does not resolve or a certificate that is not trusted (the list of
    docs/reliability.md)."""
    lowered = message.lower()
    permanent = ("not found", "does not appear to be a git repository", "authentication",
                 "could not read username", "permission denied", "403", "401", "404",
                 "could not resolve host", "ssl certificate problem",
                 "certificate verify failed", "server certificate verification failed")
    return not any(p in lowered for p in permanent)


def published_files(git_dir: Path) -> list[PublishedFile]:
    """The files of the work repository a dumb-HTTP mirror needs, with their commit roles.

    Not published: ``config`` (may name the upstream), hooks, ``description``, and pack side
    files other than ``.idx`` (dumb clients read only ``.idx`` and ``.pack``).
    """
    out: list[PublishedFile] = []
    objects = git_dir / "objects"
    pack_dir = objects / "pack"
    if pack_dir.is_dir():
        names = {p.name for p in pack_dir.iterdir()}
        for name in sorted(names):
            stem = name.rsplit(".", 1)[0]
            if _PACK.fullmatch(name) and f"{stem}.pack" in names and f"{stem}.idx" in names:
                out.append(PublishedFile(f"objects/pack/{name}", Kind.BLOB))
    if objects.is_dir():
        for sub in sorted(objects.iterdir()):
            if sub.is_dir() and _LOOSE_DIR.fullmatch(sub.name):
                out += [PublishedFile(f"objects/{sub.name}/{f.name}", Kind.BLOB)
                        for f in sorted(sub.iterdir()) if f.is_file()]
    if (objects / "info" / "packs").is_file():
        out.append(PublishedFile("objects/info/packs", Kind.INDEX, ORDER_PACKS_INFO))
    if (git_dir / "packed-refs").is_file():
        out.append(PublishedFile("packed-refs", Kind.INDEX, ORDER_REFS))
    refs = git_dir / "refs"
    if refs.is_dir():
        for dirpath, _dirs, files in os.walk(refs):
            for name in sorted(files):
                if name.endswith(".lock") or name.startswith("."):
                    continue
                rel = Path(dirpath, name).relative_to(git_dir).as_posix()
                out.append(PublishedFile(rel, Kind.INDEX, ORDER_REFS))
    if (git_dir / REFS_KEEP).is_file():
        out.append(PublishedFile(REFS_KEEP, Kind.BLOB))
    out.append(PublishedFile("HEAD", Kind.INDEX, ORDER_HEAD))
    if (git_dir / "info" / "refs").is_file():
        out.append(PublishedFile("info/refs", Kind.INDEX, ORDER_INFO_REFS))
    return out
