"""The mirror run: plan, diff against the manifest, fetch, commit blobs, commit indexes, prune.

The order is the promise: a blob becomes visible only once verified, index files only once
every blob of the plan is in place, stale files disappear only after the new index is
committed, and the manifest is replaced last. A run that fails anywhere leaves the previous
snapshot served, and whatever it did commit is recorded so the next run can reuse it.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc

from ..config.model import MirrorConfig
from ..fetch.early_commit import HOLD_BODY, HOLD_LIMIT, EarlyCommits, Pending
from ..fetch.result import FetchResult
from ..fetch.staging import Staging, clean_stale_staging
from ..fileops import copy_hashing, hash_file, write_chunks
from ..plan.artifact import Artifact, Kind
from ..plan.context import EngineContext
from ..plan.digest import Digest
from ..plan.registry import FetchError
from ..plugin.host import PluginHost
from ..redact import redact
from ..store.changeset import PathConflict, ancestors, directories, path_conflict
from ..store.local import LocalStore, StoreRefused
from ..store.lock import MirrorLock
from ..store.manifest import FileEntry, Manifest, load_manifest, new_snapshot_id, state_dir
from ..store.safefs import UnsafeDestination
from ..transport import TransportSettings
from .commit import commit_snapshot, record_failed_run, roll_back_new
from .report import ArtifactError, RunReport

if TYPE_CHECKING:
    from ..fetch.downloader import Downloader
    from ..store.s3.remote import Remote

__all__ = ["MirrorRun", "RunObserver"]

log = logging.getLogger("mirrorkit.engine")

class RunObserver(Protocol):
    """Receives progress events (the CLI draws bars from them)."""

    def planned(self, artifact: Artifact) -> None: ...
    def bytes(self, count: int) -> None: ...
    def done(self, artifact: Artifact, outcome: str) -> None: ...


class _NullObserver:
    def planned(self, artifact: Artifact) -> None:
        pass

    def bytes(self, count: int) -> None:
        pass

    def done(self, artifact: Artifact, outcome: str) -> None:
        pass


@dataclass(slots=True)
class _Staged:
    artifact: Artifact
    tmp: Path
    entry: FileEntry
    mtime: float | None
    seq: int


def _upstream_digest(art: Artifact) -> Digest | None:
    """The artifact's expected digest when it is not sha256 (which the core always computes)."""
    return art.digest if art.digest is not None and art.digest.algorithm != "sha256" else None


def _recorded_digest(art: Artifact) -> str | None:
    """What the manifest keeps beside the sha256: the upstream digest, if it is another."""
    upstream = _upstream_digest(art)
    return str(upstream) if upstream is not None else None


def _entry_matches(art: Artifact, entry: FileEntry) -> bool:
    if art.size is not None and art.size != entry.size:
        return False
    if art.digest is None:
        return art.immutable
    if art.digest.algorithm == "sha256":
        return art.digest.hex == entry.sha256
    return entry.digest == str(art.digest)


class PlanConflict(ValueError):
    pass


class MirrorRun:
    """One run of one mirror."""

    def __init__(
        self,
        host: PluginHost,
        mirror: MirrorConfig,
        *,
        dry_run: bool = False,
        observer: RunObserver | None = None,
        command: str = "mirrorkit run",
    ) -> None:
        self.host = host
        self.mirror = mirror
        self.dest = Path(os.path.abspath(mirror.dest))
        self.dest_url = mirror.dest_url  # s3://bucket/prefix: self.dest is a scratch dir
        self._remote: Remote | None = None
        self._remote_kept: set[str] = set()  # kept files whose bytes are only in the bucket
        self._dest_str = str(self.dest)
        self.dry_run = dry_run
        self.observer: RunObserver = observer or _NullObserver()
        self.command = command
        s = mirror.settings
        self.settings = s
        self.download_settings = TransportSettings(
            retries=s.retries,
            backoff_initial=s.backoff_initial,
            backoff_max=s.backoff_max,
            max_retry_after=s.max_retry_after,
            read_timeout=s.timeout,
            connect_timeout=min(30.0, s.timeout),
            ca_bundle=s.ca_bundle,
            min_rate=s.min_rate,
            min_rate_window=s.min_rate_window,
            index_max_bytes=s.max_index_bytes,
            bandwidth_limit=s.bandwidth_limit,
        )
        # None: "auto" (the transport's own cap, and adaptive per-host limits)
        self._concurrency = s.concurrency if isinstance(s.concurrency, int) else None
        self._per_host = s.per_host if isinstance(s.per_host, int) else None
        self.prev: Manifest | None = None
        self.prev_files: dict[str, FileEntry] = {}
        self.planned: dict[str, Artifact] = {}
        self._planned_dirs: set[str] = set()  # every parent directory of a planned path
        self._kept_unplanned: dict[str, FileEntry] = {}  # ctx.keep_previous(paths)
        self.refused = False  # the plan cannot be committed: undo what was put in place
        self.entries: dict[str, FileEntry] = {}
        self.readable: dict[str, Path] = {}
        self.staged_index: list[_Staged] = []
        self.deferred_blobs: list[_Staged] = []
        self.links: list[Artifact] = []
        self.committed_new: dict[str, FileEntry] = {}
        self.failed: dict[str, ArtifactError] = {}
        # dry run: files that would be downloaded or copied, with their size when known
        self.would_change: dict[str, int | None] = {}
        self._would_fetch = [0, 0, 0]  # downloads, of unknown size, bytes (see _would_download)
        self.plan_error: str | None = None
        self._scope: anyio.CancelScope | None = None
        self._plan_error_known = False
        self.report = RunReport(
            mirror=mirror.name, registry=mirror.registry, dest=self.describe_dest(),
            dry_run=dry_run)
        self._seq = 0
        self._slots = anyio.Semaphore(max(2, (self._concurrency or 128) * 2), fast_acquire=True)
        self._in_progress: dict[str, anyio.Event] = {}
        self._early = EarlyCommits(
            lambda item: self.staging.commit(item.tmp, item.path, item.mtime, item.body),
            self._early_done)

    # ----------------------------------------------------------------- public
    async def run(self) -> RunReport:
        started = time.monotonic()
        self.report.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        try:
            if self.dest_url is not None:
                from ..store.s3.remote import Remote, run_into_bucket  # boto3: only for S3

                self._remote = Remote(self.dest_url, self._concurrency or 16)
            if self.dry_run:
                await self._run_dry()
            elif self._remote is not None:
                await run_into_bucket(self, self._remote)
                self._finish_status()
            else:
                self.dest.mkdir(parents=True, exist_ok=True)
                with MirrorLock(self.dest, self.command, wait=self.settings.lock_wait):
                    await self._run_locked()
        finally:
            self.report.duration_s = round(time.monotonic() - started, 3)
        return self.report

    def error_for(self, path: str) -> str:
        err = self.failed.get(path)
        return err.error if err else "failed"

    # ------------------------------------------------------------------ phases
    async def _run_dry(self) -> None:
        if self._remote is not None:
            self.prev = await anyio.to_thread.run_sync(self._remote.load_state, self.mirror.name)
        else:
            self.prev = load_manifest(self.dest) if self.dest.exists() else None
        self.prev_files = self.prev.files if self.prev else {}
        self.report.previous_snapshot = self.prev.snapshot if self.prev else None
        scratch = Path(tempfile.mkdtemp(prefix="mirrorkit-plan-"))
        try:
            self.staging = Staging(scratch, "dry")
            self.staging.dir = scratch / "staged"
            self.staging.create()
            await self._plan_and_fetch(work_dir=scratch / "work")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        downloads, unknown, size = self._would_fetch
        self.report.downloaded += downloads
        self.report.unknown_sizes += unknown
        self.report.bytes_to_download += size
        stale = [p for p in self.prev_files if p not in self.planned]
        self.report.removed = len(stale)
        self.report.files = len(self.planned)
        self._finish_status()

    async def _run_locked(self) -> None:
        cleaned = clean_stale_staging(self.dest)
        if cleaned:
            log.info("removed %d temporary files left by an interrupted run", cleaned)
        self.prev = load_manifest(self.dest)
        self.prev_files = self.prev.files if self.prev else {}
        self.report.previous_snapshot = self.prev.snapshot if self.prev else None
        run_id = new_snapshot_id()
        self.staging = Staging(self.dest, run_id)
        self.staging.create()
        work_dir = state_dir(self.dest) / "work"
        work_dir.mkdir(parents=True, exist_ok=True)
        try:
            await self._plan_and_fetch(work_dir=work_dir)
            if self.refused:
                roll_back_new(self)
            elif self.plan_error or (self.failed and not self.settings.allow_partial):
                record_failed_run(self)
            else:
                commit_snapshot(self, run_id, LocalStore(
                    self.staging, keep_snapshots=self.settings.keep_snapshots))
        except (StoreRefused, UnsafeDestination) as exc:
            roll_back_new(self)
            self._stop_run(f"commit refused: {exc}; the mirror is unchanged")
        except OSError as exc:  # the commit itself failed (disk full writing the manifest)
            self._stop_run(f"commit failed: {exc.strerror or exc} ({exc.filename or self.dest})"
                           "; the next run completes it")
        finally:
            self.staging.remove()
        self._finish_status()

    def describe_dest(self) -> str:
        return self.dest_url or str(self.dest)

    def _refuse(self, message: str) -> None:
        """The plan cannot be committed as a whole: stop, and undo early commits."""
        self.refused = True
        self._stop_run(message)

    def _stop_run(self, message: str) -> None:
        """A failure no retry can fix (no space left): one error, and the run winds down."""
        if self.plan_error is None:
            self.plan_error = message
            self._plan_error_known = True
            self.report.errors.append(ArtifactError(path="<run>", error=message))
            log.info("stopped: %s", message)  # printed once by the CLI, from the report
        if self._scope is not None:
            self._scope.cancel()

    async def _plan_and_fetch(self, work_dir: Path) -> None:
        reg = self.host.registries.get(self.mirror.registry)
        plugin = reg.cls()
        options = self.mirror.options
        if options is None:
            options = reg.cls.Options()
        work_dir.mkdir(parents=True, exist_ok=True)
        downloader = await self._open_downloader()
        try:
            self.downloader = downloader
            await self._plan_and_fetch_with(plugin, options, work_dir)
        finally:
            await downloader.__aexit__(None, None, None)
            self.report.hosts = downloader.host_stats()
            for h in self.report.hosts:
                log.info("host %s: %d requests, %d refused, in-flight limit %s%d (max %d)",
                         h.host, h.requests, h.refusals,
                         "pinned at " if h.pinned else "settled at ", h.limit, h.max_limit)
        if self.plan_error and not self._plan_error_known:
            self.report.errors.insert(
                0, ArtifactError(path="<plan>", error=f"planning failed: {self.plan_error}")
            )

    async def _open_downloader(self) -> Downloader:
        from ..fetch.downloader import Downloader  # the HTTP stack: only once something runs

        return await Downloader(self.download_settings, on_bytes=self.observer.bytes,
                                concurrency=self._concurrency,
                                per_host=self._per_host).__aenter__()

    async def _plan_and_fetch_with(self, plugin: Any, options: Any, work_dir: Path) -> None:
        ctx = EngineContext(self, work_dir)
        async with anyio.create_task_group() as tg:
            self._scope = tg.cancel_scope
            self._early.start(tg)
            try:
                async for art in plugin.plan(options, ctx):
                    if not isinstance(art, Artifact):
                        raise TypeError(f"plan yielded {type(art).__name__}, not Artifact")
                    if not self._claim(art) or self._kept_without_io(art):
                        continue
                    # in progress from now on: a ctx.fetch of the same file before its task
                    # starts waits for it instead of finding nothing to read
                    event = self._in_progress[art.path] = anyio.Event()
                    try:
                        await self._slots.acquire()
                    except BaseException:
                        event.set()
                        del self._in_progress[art.path]
                        raise
                    tg.start_soon(self._process_slot, art)
            except Exception as exc:
                log.debug("planning failed", exc_info=True)
                self.refused = self.refused or isinstance(exc, PathConflict)
                self.plan_error = redact(_one_line(exc))
                # a plan stopped by a failed index fetch is reported once, as that file
                self._plan_error_known = isinstance(exc, FetchError) and exc.path in self.failed
                tg.cancel_scope.cancel()
        if not self.refused:  # a refused run takes back what was put in place: add nothing
            await self._early.finish()

    def _kept_without_io(self, art: Artifact) -> bool:
        """The no-op fast path: an unchanged file costs one stat, not a task."""
        if art.link_to is not None:  # links cost nothing until the commit
            try:
                self.observer.done(art, self._plan_link(art))
            except FetchError as exc:
                self._fail(art, exc.reason)
            return True
        if art.url is None:
            prev = self._unchanged_local(art)
            if prev is None:
                return False
            self._keep(art, prev)
            self.observer.done(art, "kept")
            return True
        prev = self._unchanged(art)
        if prev is not None:
            self._keep(art, prev)
            self.observer.done(art, "kept")
            return True
        if self.dry_run and art.kind is Kind.BLOB:
            # a dry run never downloads a blob: planning an empty mirror of 400,000
            # packages spent most of its time starting a task for each
            self.observer.done(art, self._would_download(art))
            return True
        return False

    def _unchanged(self, art: Artifact) -> FileEntry | None:
        """The manifest entry of a URL artifact that needs no request at all, else None.

        Conditional indexes always ask upstream; anything else is kept when its entry matches
        what the plan expects and the file on disk still has the recorded size.
        """
        if art.kind is Kind.INDEX and not art.immutable:
            return None
        prev = self.prev_files.get(art.path)
        if prev is None or not _entry_matches(art, prev):
            return None
        # a string join: a Path per kept file was a fifth of a 90,000-file no-op run
        if (not self.dry_run and self._remote is None
                and _size_on_disk(os.path.join(self._dest_str, art.path)) != prev.size):
            return None
        return prev

    def keep_previous(self, paths: Iterable[str] | None = None) -> bool:
        """Files of the previous snapshot as planned files of this run (``ctx.keep_previous``).

        One stat per file instead of one artifact: a no-op of a large mirror costs
        what reading its manifest costs. Without ``paths``, the whole previous snapshot is
        the plan (nothing may be planned yet); with them, exactly those files, beside
        whatever else the plugin plans. All or nothing: each file must be in the previous
        snapshot, not only for its ``prune_grace`` (those are pruned in their time), and on
        disk with its recorded size, as for a kept artifact.
        """
        if self.dry_run or self.prev is None or self._remote is not None:
            return False
        named = paths is not None
        if paths is None:
            if self.planned or self.entries:
                return False
            paths = [p for p, e in self.prev_files.items() if e.stale_since is None]
        kept = self._previous_in_place(paths)
        if kept is None:
            return False
        if named:  # the previous snapshot had no conflicts itself; with the plan, it may
            self._check_beside_plan(kept)
        self.entries.update(kept)
        if self._kept_unplanned:
            self._kept_unplanned.update(kept)
        else:
            self._kept_unplanned = kept
        self.report.skipped += len(kept)
        return True

    def _check_beside_plan(self, kept: dict[str, FileEntry]) -> None:
        """Refuse kept files that are planned directories, or under a planned file."""
        dirs = directories(kept)
        if not self._planned_dirs.isdisjoint(kept):
            clash = min(p for p in kept if p in self._planned_dirs)
            conflict = f"{clash} is both a file and the directory of other files"
        else:
            parent = next((d for d in dirs if d in self.planned), None)
            if parent is None:
                self._planned_dirs |= dirs
                return
            child = min(p for p in kept if p.startswith(f"{parent}/"))
            conflict = f"{parent} is both a file and the directory of {child}"
        raise self._conflict(conflict)

    def _conflict(self, conflict: str) -> PathConflict:
        return PathConflict(f"{self.describe_dest()}: the plan cannot be mirrored: "
                            f"{conflict}; nothing was changed")

    def _previous_in_place(self, paths: Iterable[str]) -> dict[str, FileEntry] | None:
        """The previous entries of ``paths`` when every one of them can be kept, else None."""
        prev, planned, entries = self.prev_files, self.planned, self.entries
        kept: dict[str, FileEntry] = {}
        with _Sizes(self._dest_str) as size_of:
            for path in paths:
                if path in kept:
                    continue
                entry = prev.get(path)
                if (entry is None or entry.stale_since is not None or path in planned
                        or path in entries or size_of(path) != entry.size):
                    return None
                kept[path] = entry
        return kept

    def _unchanged_local(self, art: Artifact) -> FileEntry | None:
        """The entry of a local artifact already in place (generated pages re-planned by a
        no-op): the same test as :meth:`_process_local`, two stats and no task."""
        prev = self.prev_files.get(art.path)
        if prev is None or art.source is None:
            return None
        try:
            st, fst = os.stat(art.source), os.stat(self.dest / art.path)
        except OSError:
            return None
        if (fst.st_size == st.st_size == prev.size and fst.st_mtime_ns == st.st_mtime_ns
                and (art.digest is None or _entry_matches(art, prev))):
            return prev
        return None

    async def _process_slot(self, art: Artifact) -> None:
        try:
            await self._process_claimed(art)
        finally:
            self._slots.release()

    # ------------------------------------------------------------ per artifact
    def _claim(self, art: Artifact) -> bool:
        """Record ``art`` in the plan; False when the same file was already planned."""
        other = self.planned.get(art.path)
        if other is None:
            if self._kept_unplanned:
                return self._claim_beside_kept(art)
            return self._plan(art, path_conflict(art.path, self.planned, self._planned_dirs))
        same = (other.digest == art.digest and other.kind is art.kind
                and (other.digest is not None or other.origin == art.origin))
        if not same:
            raise PlanConflict(
                f"two artifacts claim {art.path}: {other.origin} and {art.origin}"
            )
        return False

    def _claim_beside_kept(self, art: Artifact) -> bool:
        """:meth:`_claim` once files were kept unplanned: they count as planned too."""
        kept = self._kept_unplanned.get(art.path)
        if kept is not None:
            if not _entry_matches(art, kept):
                raise PlanConflict(f"two artifacts claim {art.path}: {art.origin} and the "
                                   "previous snapshot's file the plugin kept")
            return False
        conflict = path_conflict(art.path, self.planned, self._planned_dirs)
        if conflict is None:
            parent = next((a for a in ancestors(art.path) if a in self._kept_unplanned), None)
            if parent is not None:
                conflict = f"{parent} is both a file and the directory of {art.path}"
        return self._plan(art, conflict)

    def _plan(self, art: Artifact, conflict: str | None) -> bool:
        """Add a newly claimed file to the plan, unless it clashes with a planned path."""
        if conflict is not None:
            raise self._conflict(conflict)
        self.planned[art.path] = art
        self.observer.planned(art)
        return True

    async def process(self, art: Artifact) -> Path | None:
        """Bring one artifact to a verified state now; returns a path to read its bytes from."""
        if not self._claim(art):
            event = self._in_progress.get(art.path)
            if event is not None:
                await event.wait()
        else:
            await self._process_claimed(art)
        return await self._readable(art.path)

    async def _readable(self, path: str) -> Path | None:
        """Where to read a processed file's bytes (a kept file of a bucket is fetched now)."""
        if self._early.pending(path):
            await self._early.wait_for(path)  # its staging name is about to go away
        if path in self._remote_kept and self._remote is not None:
            self._remote_kept.discard(path)
            tmp = self.staging.new_path()
            await anyio.to_thread.run_sync(self._remote.download, path, tmp)
            self.readable[path] = tmp
        found = self.readable.get(path)
        if found is None and path in self.entries:
            # a kept file's path is built only when asked for: a no-op run keeps every
            # file, and building a Path for each cost more than the stat that checked it
            return self.dest / path
        return found

    async def _process_claimed(self, art: Artifact) -> None:
        event = self._in_progress.get(art.path)
        if event is None:
            event = self._in_progress[art.path] = anyio.Event()
        try:
            outcome = await self._process(art)
            self.observer.done(art, outcome)
        except FetchError as exc:
            self._fail(art, exc.reason)
        except OSError as exc:
            self._file_error(art, exc)
        finally:
            event.set()
            del self._in_progress[art.path]

    def _file_error(self, art: Artifact, exc: OSError) -> None:
        """A file that could not be written or put in place: the file, or the run, fails."""
        if isinstance(exc, UnsafeDestination):
            self._refuse(f"refused: {exc}; the mirror is unchanged")
        elif exc.errno in _FATAL_ERRNOS:
            self._stop_run(f"{exc.strerror} in {self.dest}: the run stopped; the previous "
                           "snapshot is still served")
        else:
            self._fail(art, f"{exc.strerror or exc} ({exc.filename or art.path})")

    def _early_done(self, item: Pending, error: OSError | None) -> None:
        """A new file's batch is done (:mod:`.early_commit`): it is in place, or it failed."""
        if error is None:
            self.readable[item.path] = self.dest / item.path
            self.committed_new[item.path] = item.entry
            return
        self.entries.pop(item.path, None)
        self.readable.pop(item.path, None)
        self.report.downloaded -= 1
        self.report.bytes_downloaded -= item.entry.size
        self._file_error(self.planned[item.path], error)

    def _fail(self, art: Artifact, reason: str) -> None:
        err = ArtifactError(path=art.path, url=redact(art.origin), error=redact(reason))
        self.failed[art.path] = err
        self.report.errors.append(err)
        self.report.failed += 1
        self.observer.done(art, "failed")
        # info, not error: the CLI prints every failure once (with its URL) and the report
        # lists them; this record is for --log-format json streams
        log.info("failed: %s: %s", art.path, err.error,
                 extra={"path": art.path, "url": err.url})

    def _keep(self, art: Artifact, entry: FileEntry) -> str:
        self.entries[art.path] = entry
        if self._remote is not None:
            self._remote_kept.add(art.path)
        self.report.skipped += 1
        return "kept"

    async def _process(self, art: Artifact) -> str:
        final = self.dest / art.path
        prev = self.prev_files.get(art.path)
        if art.link_to is not None:
            return self._plan_link(art)
        if art.source is not None:
            return await self._process_local(art, prev, final)
        conditional = art.kind is Kind.INDEX and not art.immutable
        unchanged = self._unchanged(art)
        if unchanged is not None:
            return self._keep(art, unchanged)
        if (not conditional and not self.dry_run and art.digest is not None
                and self._remote is None):
            adopted = await self._adopt_existing(art, final)
            if adopted is not None:
                return self._keep(art, adopted)
        if self.dry_run and art.kind is Kind.BLOB:
            return self._would_download(art)
        tmp = self.staging.new_path()
        has_prev_file = prev is not None and (self._remote is not None
                                              or _size_on_disk(final) == prev.size)
        early = self._goes_early(art, final)
        result = await self.downloader.download(
            art,
            tmp,
            etag=prev.etag if conditional and prev and has_prev_file else None,
            last_modified=prev.last_modified if conditional and prev and has_prev_file else None,
            # a small new file is written by the early commits' thread, not on the loop
            # (the download process writes its own: it has a core to itself)
            hold_up_to=HOLD_BODY if early and self.downloader.holds_bodies else 0,
        )
        if result.not_modified:
            assert prev is not None
            return self._keep(art, prev)
        body = result.body
        if body is not None and self._early.held >= HOLD_LIMIT:
            # enough bytes wait in memory already (a slow disk): this one is written now
            try:
                write_chunks(tmp, body)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            body = None
        entry = self._entry_for(art, result)
        self.report.bytes_downloaded += result.size
        if conditional and prev is not None and has_prev_file and prev.sha256 == entry.sha256:
            tmp.unlink(missing_ok=True)  # upstream sent the same bytes again: nothing changed
            return self._keep(art, entry)
        self.report.downloaded += 1
        self._stage(art, tmp, entry, result.mtime, final, early, body)
        return "downloaded"

    def _would_download(self, art: Artifact) -> str:
        # counted here, added to the report once: a report field costs a pydantic
        # __setattr__ per update, and an empty mirror's plan has one per package
        self.would_change[art.path] = art.size
        self._would_fetch[0] += 1
        if art.size is None:
            self._would_fetch[1] += 1
        else:
            self._would_fetch[2] += art.size
        return "would-download"

    def _entry_for(self, art: Artifact, result: FetchResult) -> FileEntry:
        return FileEntry(
            size=result.size,
            sha256=result.sha256,
            kind=art.kind,
            digest=_recorded_digest(art),
            etag=result.etag if art.kind is Kind.INDEX else None,
            last_modified=result.last_modified if art.kind is Kind.INDEX else None,
            order=art.order,
        )

    def _goes_early(self, art: Artifact, final: Path) -> bool:
        """Whether a verified file can go into place at once (:mod:`.early_commit`): a new
        path that nothing names yet, in a local tree, in a run that commits."""
        return not (self.dry_run or art.kind is Kind.INDEX or self._remote is not None
                    or art.path in self.prev_files or os.path.lexists(final)
                    or any(a in self.prev_files for a in ancestors(art.path)))

    def _stage(self, art: Artifact, tmp: Path, entry: FileEntry, mtime: float | None,
               final: Path, early: bool | None = None,
               body: tuple[bytes, ...] | None = None) -> None:
        """Record a verified file; ``body``: its bytes, not yet written to ``tmp`` (only for
        a file that goes into place early: the early commits' thread writes it)."""
        self._seq += 1
        self.readable[art.path] = tmp
        if early is None:
            early = self._goes_early(art, final)
        assert body is None or early
        if early:  # into place now, off the event loop
            self._early.queue(Pending(art.path, tmp, entry, mtime, body))
            self.entries[art.path] = entry
            return
        if self.dry_run:
            self.entries[art.path] = entry  # what plan lists: the size it would commit
            return
        staged = _Staged(art, tmp, entry, mtime, self._seq)
        if art.kind is Kind.INDEX:
            self.staged_index.append(staged)
        else:
            # replaces a file, or needs the name of one (a file becoming a directory):
            # committed in order with the rest of the changeset
            self.deferred_blobs.append(staged)
        self.entries[art.path] = entry

    async def _adopt_existing(self, art: Artifact, final: Path) -> FileEntry | None:
        """A file already at the final path (a killed run's commit) that verifies is kept."""
        assert art.digest is not None
        size = _size_on_disk(final)
        if size is None or (art.size is not None and size != art.size):
            return None
        sha = await anyio.to_thread.run_sync(hash_file, final)
        if art.digest.algorithm == "sha256":
            ok = sha == art.digest.hex
        else:
            ok = await anyio.to_thread.run_sync(
                hash_file, final, art.digest.algorithm, size) == art.digest.hex
        if not ok:
            return None
        return FileEntry(size=size, sha256=sha, kind=art.kind, digest=_recorded_digest(art),
                         order=art.order)

    async def _process_local(self, art: Artifact, prev: FileEntry | None, final: Path) -> str:
        assert art.source is not None
        src = art.source
        st = os.stat(src)  # the plugin's own work directory: cheaper here than on a thread
        if prev is not None:
            try:
                fst = os.stat(final)
                same = (fst.st_size == st.st_size == prev.size
                        and fst.st_mtime_ns == st.st_mtime_ns
                        and (art.digest is None or _entry_matches(art, prev)))
            except FileNotFoundError:
                same = False
            if same:
                return self._keep(art, prev)
        if self.dry_run:
            # what the run would find after copying: the same bytes are kept (a dry run's
            # work directory is a scratch one, so its files are always newer)
            if (prev is not None and st.st_size == prev.size == _size_on_disk(final)
                    and await anyio.to_thread.run_sync(hash_file, src) == prev.sha256):
                return self._keep(art, prev)
            self.report.copied += 1
            self.report.bytes_to_download += st.st_size
            self.readable[art.path] = src
            self.would_change[art.path] = st.st_size
            return "would-copy"
        tmp = self.staging.new_path()
        upstream = _upstream_digest(art)
        algorithm = upstream.algorithm if upstream else None
        if st.st_size <= _INLINE_COPY:  # a small generated page: a thread hop costs more
            sha, other = copy_hashing(src, tmp, algorithm)
        else:
            sha, other = await anyio.to_thread.run_sync(copy_hashing, src, tmp, algorithm)
        if art.digest is not None:
            got = sha if art.digest.algorithm == "sha256" else other
            if got != art.digest.hex:
                tmp.unlink(missing_ok=True)
                raise FetchError(art.path, str(src),
                                 f"{art.digest.algorithm} mismatch: expected {art.digest.hex}, "
                                 f"got {got}")
        entry = FileEntry(size=st.st_size, sha256=sha, kind=art.kind, order=art.order,
                          digest=_recorded_digest(art))
        if prev is not None and prev.sha256 == sha and (
                self._remote is not None or _size_on_disk(final) == prev.size):
            # same bytes, only the timestamp moved: adopt the source's mtime in place
            tmp.unlink(missing_ok=True)
            if self._remote is None:
                os.utime(final, ns=(st.st_mtime_ns, st.st_mtime_ns))
            return self._keep(art, entry)
        self.report.copied += 1
        self.report.bytes_downloaded += st.st_size
        os.utime(tmp, ns=(st.st_mtime_ns, st.st_mtime_ns))  # exact: the next run compares it
        self._stage(art, tmp, entry, None, final)
        return "copied"

    def _plan_link(self, art: Artifact) -> str:
        """A link costs nothing now; it is made at commit time, once its target is in place."""
        target = self.planned.get(art.link_to or "")
        if target is None or target.kind is not Kind.BLOB or target.link_to is not None:
            raise FetchError(art.path, None,
                             f"link target {art.link_to} is not a blob planned before it")
        self.links.append(art)
        return "linked"

    def _finish_status(self) -> None:
        if self.plan_error or (self.failed and not self.settings.allow_partial):
            self.report.status = "failed"
        elif self.failed:
            self.report.status = "partial"
        else:
            self.report.status = "ok"


_DIR_FD = os.stat in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")


class _Sizes:
    """Sizes of files under ``root``, None for a missing one.

    A file in the directory of the one before is looked up relative to that directory
    (``dir_fd``): the kernel then walks one name, not the whole path, which took a third
    off the stats of a 400,000-file no-op. A directory is opened only for its second file,
    so a layout of one file per directory costs no more than plain stats.
    """

    def __init__(self, root: str) -> None:
        self._root = root
        self._dir: str | None = None
        self._fd = -1

    def __enter__(self) -> Callable[[str], int | None]:
        return self.size

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def size(self, path: str) -> int | None:
        head, _, name = path.rpartition("/")
        try:
            if head != self._dir or not _DIR_FD:
                self._close()
                self._dir = head
                return os.stat(os.path.join(self._root, path)).st_size
            if self._fd < 0:
                self._fd = os.open(os.path.join(self._root, head), os.O_RDONLY | os.O_DIRECTORY)
            return os.stat(name, dir_fd=self._fd).st_size
        except OSError:
            return None


def _size_on_disk(path: str | Path) -> int | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_size


# local files up to this size are copied on the event loop: a trip to a worker thread and
# back costs more than copying and hashing them (generated index pages are a few KiB)
_INLINE_COPY = 64 * 1024

# no retry and no other file can succeed after these: stop the run at the first one
_FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})

_KNOWN_ERRORS = ("PlanError", "PlanConflict", "PathConflict", "UnsafePathError", "FetchError",
                 "DigestError")


def _one_line(exc: BaseException) -> str:
    """An exception as the one line an operator reads (class name only for surprises)."""
    text = " ".join(str(exc).split())
    if type(exc).__name__ in _KNOWN_ERRORS and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
