"""Planning one suite: its Release files, the index files it lists, the pool files they name.

Commit order (Artifact ``order``) is what an apt client needs: pool files are blobs and go
first; ``Packages``/``Sources``/per-directory ``Release``/``by-hash`` files next (order 0);
then ``Release``, ``Release.gpg`` and ``InRelease`` last, so a client never reads an index
naming a file the mirror does not have yet. Index files listed in ``Release`` carry their
SHA256 and are ``immutable`` (the Release names their content): an unchanged one costs no
request at all on a re-run; only the three Release files are asked for, conditionally.

The Release files of every suite are fetched together (``ctx.fetch_all``) and checked before
anything else is planned; then the indexes to read, also together, each parsed as soon as it
and those before it are in.
"""

from __future__ import annotations

import lzma
import posixpath
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from mirrorkit.api import (
    Artifact,
    BasicAuth,
    Digest,
    Fetched,
    FetchError,
    Kind,
    PlanContext,
    PlanError,
)

from .control import PoolFile, iter_package_files, iter_stanzas, open_index, source_files
from .release import IndexFile, Release, Selection, parse_release, strip_clearsign
from .signature import verify_clearsigned, verify_detached
from .sources import Suite

__all__ = ["AptState", "SuitePlanner", "fetch_releases", "plan_suites"]

#: Release files are committed after every other index, InRelease last of all.
RELEASE_ORDER = {"Release": 10, "Release.gpg": 11, "InRelease": 12}
#: Which compressed form of an index is read, best first (all of them are mirrored).
READ_PREFERENCE = (".xz", ".gz", ".bz2", ".lzma", "")
_SAFE_URL = "/+~:@=,!$&'()*;"
_URL_SAFE = re.compile(r"[A-Za-z0-9/._+~:@=,!$&'()*;-]*")


@dataclass(slots=True)
class AptState:
    """What the suites of one run share: paths already planned, the estimate, notes."""

    ctx: PlanContext
    udeb: bool
    contents: bool
    translations: bool
    seen: set[str] = field(default_factory=set)
    bytes: int = 0
    packages: int = 0
    unverified: list[str] = field(default_factory=list)
    #: listed-but-absent index files (path -> the SHA256 Release gave), from the last run
    #: and from this one: a re-run does not ask again while Release lists the same file
    absent_before: dict[str, str] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)

    def claim(self, path: str, size: int) -> bool:
        """True the first time ``path`` is planned (and counts its size once)."""
        if path in self.seen:
            return False
        self.seen.add(path)
        self.bytes += size
        return True


@dataclass(slots=True)
class SuitePlanner:
    suite: Suite
    state: AptState
    release: Release | None = None
    release_files: list[Artifact] = field(default_factory=list)
    #: per directory, the one Packages or Sources file to parse (set by :meth:`plan_indexes`)
    to_read: list[IndexFile] = field(default_factory=list)

    # -------------------------------------------------------------- Release files
    async def release_artifacts(self) -> list[Artifact]:
        """The suite's InRelease, Release and Release.gpg that upstream has."""
        suite = self.suite
        if suite.name.endswith("/") or not (suite.binary_components
                                            or suite.source_components):
            raise PlanError(f"{suite.repo.display} {suite.name}: flat repositories (a suite "
                            "ending in '/', no components) are not supported")
        self.release_files = []
        for name in ("InRelease", "Release", "Release.gpg"):
            art = Artifact(suite.local + name, url=suite.remote + name, kind=Kind.INDEX,
                           auth=suite.repo.auth(), order=RELEASE_ORDER[name])
            # one at a time: what a plan asked, in a stable order, is what decides whether
            # the next run may keep it (ctx.keep_previous_plan)
            if await self._exists(art):
                self.release_files.append(art)
        return self.release_files

    def read_release(self, fetched: dict[str, Fetched]) -> None:
        """Verify (with a keyring) and parse the fetched Release files of this suite."""
        suite = self.suite
        got = {art.path.rsplit("/", 1)[1]: fetched[art.path] for art in self.release_files}
        where = f"{suite.remote}"
        if "InRelease" not in got and "Release" not in got:
            raise PlanError(f"{where}: neither InRelease nor Release upstream")
        text = self._verified_text(got, where)
        self.release = parse_release(text, where + ("InRelease" if "InRelease" in got
                                                    else "Release"))
        missing = [c for c in suite.binary_components + suite.source_components
                   if self.release.components and c not in self.release.components]
        if missing:
            raise PlanError(f"{where}Release: no component {', '.join(dict.fromkeys(missing))} "
                            f"(it has {' '.join(self.release.components)})")
        for art in self.release_files:
            self.state.claim(art.path, fetched[art.path].size)

    def _verified_text(self, got: dict[str, Fetched], where: str) -> str:
        keyring = self.suite.keyring
        if keyring is None:
            self.state.unverified.append(f"{self.suite.repo.display} {self.suite.name}")
            if "InRelease" in got:
                return strip_clearsign(got["InRelease"].read_text("utf-8", "replace"))
            return got["Release"].read_text("utf-8", "replace")
        text = None
        if "InRelease" in got:
            text = verify_clearsigned(keyring, got["InRelease"].path, where + "InRelease")
        if "Release" in got:
            if "Release.gpg" not in got:
                if text is None:
                    raise PlanError(f"{where}Release: no InRelease and no Release.gpg, but "
                                    f"signed-by {keyring}")
            else:
                verify_detached(keyring, got["Release.gpg"].path, got["Release"].path,
                                where + "Release")
                if text is None:
                    text = got["Release"].read_text("utf-8", "replace")
        assert text is not None
        return text

    async def _exists(self, art: Artifact) -> bool:
        """Whether upstream has ``art``: asked (HEAD) only for files not mirrored before."""
        prev = self.state.ctx.previous
        if prev is not None and art.path in prev.files:
            return True
        assert art.url is not None
        try:
            await self.state.ctx.get(art.url, method="HEAD", auth=art.auth)
        except FetchError as exc:
            if exc.status in (404, 410):
                return False
            raise
        return True

    # -------------------------------------------------------------- index and pool files
    async def plan_indexes(self) -> AsyncIterator[Artifact]:
        """The index files the selection wants and upstream has (with their by-hash copies);
        the ones to parse are left in :attr:`to_read`, fetched by :func:`plan_suites`."""
        assert self.release is not None
        suite, state = self.suite, self.state
        selection = Selection(suite.binary_components, suite.source_components, suite.arches,
                              udeb=state.udeb, contents=state.contents,
                              translations=state.translations)
        wanted = [f for f in self.release.files if selection.wants(f.name)]
        present: list[IndexFile] = []
        for index in wanted:
            art = self.index_artifact(index)
            if index.compressed or await self._exists_listed(art, index):
                present.append(index)
            # else: Release lists it, the server does not have it (as on Debian's archive)
        self.to_read = _to_read(present)
        for index in present:
            art = self.index_artifact(index)
            # the ones read are fetched by plan_suites (ctx.fetch_all), not yielded twice
            if state.claim(art.path, index.size) and index not in self.to_read:
                yield art
            if self.release.by_hash:
                hashed = self._by_hash_artifact(index)
                if state.claim(hashed.path, index.size):
                    yield hashed
        # the Release files are in the plan already (fetched, committed last)

    async def _exists_listed(self, art: Artifact, index: IndexFile) -> bool:
        prev = self.state.ctx.previous
        entry = prev.files.get(art.path) if prev is not None else None
        if entry is not None and entry.sha256 == index.sha256:
            return True
        if self.state.absent_before.get(art.path) == index.sha256 or not await self._exists(art):
            self.state.absent[art.path] = index.sha256
            return False
        return True

    def index_artifact(self, index: IndexFile) -> Artifact:
        return Artifact(self.suite.local + index.name, url=self.suite.remote + index.name,
                        kind=Kind.INDEX, digest=Digest.sha256(index.sha256), size=index.size,
                        auth=self.suite.repo.auth(), immutable=True)

    def _by_hash_artifact(self, index: IndexFile) -> Artifact:
        name = posixpath.join(index.directory, "by-hash", "SHA256", index.sha256)
        return Artifact(self.suite.local + name, url=self.suite.remote + name, kind=Kind.INDEX,
                        digest=Digest.sha256(index.sha256), size=index.size,
                        auth=self.suite.repo.auth(), immutable=True)

    def pool(self, index: IndexFile, path: Fetched) -> Iterator[Artifact]:
        """The pool files one fetched Packages or Sources file names."""
        state, repo = self.state, self.suite.repo
        where = f"{self.suite.remote}{index.name}"
        source = index.directory.endswith("/source")
        auth = repo.auth()
        try:
            stream = open_index(path.path, index.name)
        except OSError as exc:
            raise PlanError(f"{where}: cannot read ({exc})") from None
        with stream:
            try:
                if source:
                    for stanza in iter_stanzas(stream):
                        state.packages += 1
                        for pf in source_files(stanza, where):
                            art = self._pool_artifact(pf, auth, where)
                            if art is not None:
                                yield art
                else:
                    for pf in iter_package_files(stream, where):
                        state.packages += 1
                        art = self._pool_artifact(pf, auth, where)
                        if art is not None:
                            yield art
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise PlanError(f"{where}: cannot decompress ({exc})") from None

    def _pool_artifact(self, pf: PoolFile, auth: BasicAuth | None,
                       where: str) -> Artifact | None:
        """The artifact for a pool file, or None when another index already named it."""
        repo = self.suite.repo
        local = repo.prefix + pf.path
        if not self.state.claim(local, pf.size):
            return None
        path = pf.path if _URL_SAFE.fullmatch(pf.path) else quote(pf.path, safe=_SAFE_URL)
        try:
            return Artifact.blob(local, repo.url + path, sha256=pf.sha256, size=pf.size,
                                 auth=auth)
        except ValueError:
            raise PlanError(f"{where}: unsafe file name {pf.path!r}") from None


async def fetch_releases(planners: Sequence[SuitePlanner], ctx: PlanContext) -> None:
    """Every suite's Release files, fetched together, then each suite verified and parsed."""
    arts = [art for planner in planners for art in await planner.release_artifacts()]
    fetched: dict[str, Fetched] = {}
    failed: FetchError | None = None
    async for art, got in ctx.fetch_all(arts):
        if isinstance(got, FetchError):
            failed = failed or got
        else:
            fetched[art.path] = got
    if failed is not None:
        raise failed
    for planner in planners:  # every signature checked before any pool file is planned
        planner.read_release(fetched)


async def plan_suites(planners: Sequence[SuitePlanner]) -> AsyncIterator[Artifact]:
    """Each suite's index files, then the pool files of every index read.

    The indexes to read are fetched together (``ctx.fetch_all``); each is parsed as soon as
    it and those before it are in, while the others still download.
    """
    for planner in planners:
        async for art in planner.plan_indexes():
            yield art
    reads = [(planner, index) for planner in planners for index in planner.to_read]
    if not reads:
        return
    ctx = planners[0].state.ctx
    fetching = ctx.fetch_all([planner.index_artifact(index) for planner, index in reads])
    at = 0
    async for _art, got in fetching:
        if isinstance(got, FetchError):
            raise got
        planner, index = reads[at]
        at += 1
        for art in planner.pool(index, got):
            yield art


def _to_read(present: list[IndexFile]) -> list[IndexFile]:
    """Per directory, the one Packages or Sources file to parse (the best compression)."""
    best: dict[str, tuple[int, IndexFile]] = {}
    for index in present:
        base = posixpath.basename(index.name)
        stem, dot, ext = base.partition(".")
        if stem not in ("Packages", "Sources"):
            continue
        rank = READ_PREFERENCE.index(dot + ext) if dot + ext in READ_PREFERENCE else None
        if rank is None:
            continue
        key = index.directory
        if key not in best or rank < best[key][0]:
            best[key] = (rank, index)
    return [index for _, index in best.values()]
