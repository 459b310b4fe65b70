"""The mirror run: plan, diff against the manifest, fetch, commit blobs, commit indexes, prune.

The order is the promise: a blob becomes visible only once verified, index files only once
every blob of the plan is in place, stale files disappear only after the new index is
committed, and the manifest is replaced last. A run that fails anywhere leaves the previous
snapshot served, and whatever it did commit is recorded so the next run can reuse it.

The run is a few parts with narrow interfaces: the target (:mod:`..store.target`: a local
tree or a bucket) holds the previous snapshot, the lock, staging and the commit; the claims
(:mod:`..plan.claims`) are the plan's path set; the fetcher (:mod:`..fetch.fetcher`) brings
each file to a verified state; the ledger (:mod:`.ledger`) records what happened; the plan
context (:mod:`..plan.context`) is the plugin's view of all this. This module drives them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import ExitStack, nullcontext
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc

from ..config.model import MirrorConfig
from ..plan.artifact import Artifact
from ..plan.claims import Claims, entry_matches
from ..plan.context import EngineContext
from ..plan.record import RECORD_NAME, RECORD_VERSION, PlanRecord
from ..plan.registry import Fetched, FetchError, PlanError
from ..plan.state import RunState
from ..plugin.host import PluginHost
from ..redact import redact
from ..store.changeset import PathConflict
from ..store.manifest import CORE_STATE_PREFIX, FileEntry, Manifest, StateRef, new_snapshot_id
from ..store.previous import PreviousSnapshot
from ..store.target import CommitFailed, DryTarget, LocalTarget, Target, TargetFailed
from ..store.tree_sizes import TreeSizes
from ..transport import TransportSettings
from .changes import planned_changes
from .commit import plan_commit
from .ledger import RunLedger
from .report import PlannedChange, RunReport
from .shards import ShardRecord

if TYPE_CHECKING:
    from ..fetch.downloader import Downloader
    from ..fetch.fetcher import Fetcher
    from ..fetch.staging import Staging
    from ..store.s3.shard_store import ShardStore
    from ..transport import Auth, Response, Validators

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


def target_for(mirror: MirrorConfig, *, dry_run: bool, concurrency: int) -> Target:
    """The run's target: the mirror directory, or the bucket of an ``s3://`` dest."""
    target: Target
    if mirror.dest_url is not None:
        from ..store.s3.bucket import BucketTarget  # boto3: only for S3

        target = BucketTarget(mirror.dest_url, concurrency,
                              lease=mirror.settings.lock_lease,
                              shard=None if dry_run else mirror.settings.shard_spec())
    else:
        target = LocalTarget(Path(os.path.abspath(mirror.dest)))
    return DryTarget(target) if dry_run else target


class MirrorRun:
    """One run of one mirror."""

    def __init__(self, host: PluginHost, mirror: MirrorConfig, *, dry_run: bool = False,
                 observer: RunObserver | None = None, command: str = "mirrorkit run") -> None:
        self._host = host
        self._mirror = mirror
        self._dry = dry_run
        self._observer: RunObserver = observer or _NullObserver()
        self._command = command
        s = mirror.settings
        self._settings = s
        # None: "auto" (the transport's own cap, and adaptive per-host limits)
        self._concurrency = s.concurrency if isinstance(s.concurrency, int) else None
        self._per_host = s.per_host if isinstance(s.per_host, int) else None
        self._target = target_for(mirror, dry_run=dry_run,
                                  concurrency=self._concurrency or 16)
        self.report = RunReport(mirror=mirror.name, registry=mirror.registry,
                                dest=self._target.where, dry_run=dry_run)
        self._ledger = RunLedger(self.report, self._observer.done)
        self._claims = Claims(self._target.where, self._observer.planned)
        self._previous: PreviousSnapshot | None = None
        self._slots = anyio.Semaphore(max(2, (self._concurrency or 128) * 2), fast_acquire=True)
        # set once the run has them (see _run_held)
        self._fetcher: Fetcher | None = None
        self._downloader: Downloader | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._exits = ExitStack()  # locks held to the end of the run (a worker's commit)
        self._commits_shards = False
        self._state: RunState | None = None
        self._record: PlanRecord | None = None
        self._kept_plan = False

    # ------------------------------------------------------------------ public
    async def run(self) -> RunReport:
        started = time.monotonic()
        self.report.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        try:
            with self._target.hold(self._command, self._settings.lock_wait):
                await self._run_held()
        except TargetFailed as exc:
            self._ledger.stop(str(exc))
        finally:
            self._target.close()
            self._ledger.finish_status(self._settings.allow_partial)
            self.report.duration_s = round(time.monotonic() - started, 3)
        return self.report

    def planned_changes(self) -> list[PlannedChange]:
        """Every file the run adds, replaces or removes (``mirrorkit plan``'s list)."""
        if self._kept_plan:
            return []
        return planned_changes(self._all_previous(), self._claims.planned, self._ledger)

    # ------------------------------------------------------------------ phases
    async def _run_held(self) -> None:
        previous = self._previous = await self._target.load_previous(self._mirror.name)
        self.report.previous_snapshot = previous.snapshot if previous else None
        run_id = new_snapshot_id()
        staging = self._target.staging(run_id)
        shards = None if self._dry else getattr(self._target, "shards", None)
        try:
            self._state = RunState(previous.state if previous is not None else {},
                                   lambda sha: self._target.read_state(sha, staging),
                                   staging.dir / "state")
            self._record = await self._plan_record(previous)
            await self._plan_and_fetch(staging, self._target.work_dir(), shards)
            if self._dry:
                self._account_dry_run()
            elif self._ledger.refused:
                self._target.roll_back(staging, self._ledger.committed_new)
                self._keep_previous_snapshot()
            elif self._kept_plan and self._ledger.commits and not self._ledger.failed:
                await self._keep_plan()
            elif not self._ledger.commits or (self._ledger.failed
                                               and not self._settings.allow_partial):
                await self._record_failed_run()
                self._keep_previous_snapshot()
            elif shards is not None and not self._commits_shards:
                self._keep_previous_snapshot()  # the last worker to finish commits
            else:
                committed = await self._commit(run_id, staging)
                if shards is not None and committed:
                    await anyio.to_thread.run_sync(shards.drop_records, self._shard_base())
        finally:
            self._exits.close()
            staging.remove()

    async def _plan_record(self, previous: PreviousSnapshot | None) -> PlanRecord:
        assert self._state is not None
        reg = self._host.registries.get(self._mirror.registry)
        options = self._mirror.options
        saved = await self._state.scoped(CORE_STATE_PREFIX).read_json(
            RECORD_NAME, version=RECORD_VERSION) if previous is not None else None
        return PlanRecord(
            registry=self._mirror.registry, distribution=reg.distribution,
            options=options.model_dump(mode="json") if options is not None else None,
            saved=saved, previous_snapshot=previous.snapshot if previous else None)

    def _state_to_save(self, snapshot: str) -> tuple[dict[str, StateRef], dict[str, Path]]:
        """The state refs and new files to save with ``snapshot``; the plan record only when
        the run planned it whole."""
        assert self._state is not None and self._record is not None
        record = self._record.to_save(snapshot) if not self._ledger.failed else None
        if record is not None:
            self._state.scoped(CORE_STATE_PREFIX).write_json(RECORD_NAME, record,
                                                      version=RECORD_VERSION)
        return self._state.finish()

    async def _record_failed_run(self) -> None:
        """A failed run changes nothing but the blobs it put in place: its state is not
        saved, and the previous snapshot's plan record still describes that snapshot."""
        if not self._ledger.committed_new:
            return  # nothing was put in place, and a failed run saves no state
        self._target.record_without_commit(
            self._previous_manifest(), self._ledger.committed_new,
            self._previous.state if self._previous is not None else {},
            self._mirror.name, self._mirror.registry)

    async def _keep_plan(self) -> None:
        """The plugin found every input unchanged: the previous snapshot stays as it is."""
        previous = self._previous
        assert previous is not None and previous.snapshot is not None
        refs, files = self._state_to_save(previous.snapshot)
        if refs != previous.state:
            await self._target.store_state(files)
            self._target.record_without_commit(previous.manifest(), {}, refs,
                                               self._mirror.name, self._mirror.registry)
        self._keep_previous_snapshot()
        self.report.skipped = len(self._prev_files)
        self.report.kept_plan = True

    @property
    def _prev_files(self) -> Mapping[str, FileEntry]:
        """The previous snapshot's files (index entries at once, the rest when asked)."""
        return self._previous.files if self._previous is not None else {}

    def _all_previous(self) -> dict[str, FileEntry]:
        """Every file of the previous snapshot, as a plain dict (for loops over many)."""
        return self._previous.files.full() if self._previous is not None else {}

    def _previous_manifest(self) -> Manifest | None:
        """The whole previous manifest (loaded now if only its head was)."""
        return self._previous.manifest() if self._previous is not None else None

    def _keep_previous_snapshot(self) -> None:
        self.report.snapshot = self._previous.snapshot if self._previous else None
        self.report.files = len(self._prev_files)

    def _account_dry_run(self) -> None:
        downloads, unknown, size = self._fetcher.dry_totals() if self._fetcher else (0, 0, 0)
        self.report.downloaded += downloads
        self.report.unknown_sizes += unknown
        self.report.bytes_to_download += size
        planned, entries = self._claims.planned, self._ledger.entries
        self.report.removed = sum(1 for p in self._all_previous()
                                  if p not in planned and p not in entries)
        self.report.files = len(planned) + len(self._claims.kept)

    async def _commit(self, run_id: str, staging: Staging) -> bool:
        ledger = self._ledger
        changes, snapshot = plan_commit(
            ledger, self._previous_manifest(), mirror=self._mirror.name,
            registry=self._mirror.registry, run_id=run_id,
            prune_grace=self._settings.prune_grace, where=self._target.where)
        refs, files = self._state_to_save(snapshot)
        previous_refs = self._previous.state if self._previous is not None else {}
        if changes.manifest is None and refs != previous_refs:
            assert self._previous is not None
            changes.manifest = Manifest(
                mirror=self._previous.mirror, snapshot=self._previous.snapshot,
                registry=self._previous.registry, created=self._previous.created,
                files=ledger.entries)
        if changes.manifest is not None:
            changes.manifest.state = refs
        try:
            await self._target.store_state(files)
            removed = await self._target.commit(changes, staging, self._settings.keep_snapshots)
            if changes.manifest is not None and refs != previous_refs:
                await self._target.drop_unused_state(changes.manifest)
        except OSError as exc:
            ledger.stop(f"commit failed: {exc}; the previous snapshot is still served and the "
                        "next run completes it")
            self._keep_previous_snapshot()
            return False
        except CommitFailed as exc:
            if exc.refused:
                self._target.roll_back(staging, ledger.committed_new)
            ledger.stop(str(exc))
            self._keep_previous_snapshot()
            return False
        log.info("committed %d blobs and %d index files",
                 len(ledger.committed_new) + len(changes.blobs),
                 sum(len(w) for w in changes.index_waves))
        self.report.snapshot = snapshot
        self.report.files = len(ledger.entries)
        self.report.removed = removed
        return True

    async def _plan_and_fetch(self, staging: Staging, work_dir: Path,
                              shards: ShardStore | None) -> None:
        from ..fetch.downloader import Downloader  # the HTTP stack: only once something runs
        from ..fetch.fetcher import Fetcher

        reg = self._host.registries.get(self._mirror.registry)
        plugin = reg.cls()
        options = self._mirror.options if self._mirror.options is not None else reg.cls.Options()
        settings = self._settings
        transport = TransportSettings(
            retries=settings.retries, backoff_initial=settings.backoff_initial,
            backoff_max=settings.backoff_max, max_retry_after=settings.max_retry_after,
            read_timeout=settings.timeout, connect_timeout=min(30.0, settings.timeout),
            ca_bundle=settings.ca_bundle, min_rate=settings.min_rate,
            min_rate_window=settings.min_rate_window,
            index_max_bytes=settings.max_index_bytes,
            bandwidth_limit=settings.bandwidth_limit)
        async with Downloader(transport, on_bytes=self._observer.bytes,
                              concurrency=self._concurrency,
                              per_host=self._per_host) as downloader:
            self._downloader = downloader
            self._fetcher = Fetcher(
                target=self._target, staging=staging, downloader=downloader,
                ledger=self._ledger, previous=self._prev_files,
                planned=self._claims.planned, observer=self._observer, dry_run=self._dry)
            if shards is not None:
                self._fetcher.share(shards.spec.owns, await self._stored_lookup(shards))
            try:
                assert self._state is not None
                await self._plan(plugin, options, EngineContext(
                    self, mirror=self._mirror.name, registry=self._mirror.registry,
                    work_dir=work_dir, dry_run=self._dry, previous=lambda: self._previous,
                    state=self._state, prune_grace=settings.prune_grace))
                if shards is not None and self._ledger.commits and not self._ledger.failed:
                    await self._finish_share(shards)
            finally:
                self.report.hosts = downloader.host_stats()
        for h in self.report.hosts:
            log.info("host %s: %d requests, %d refused, in-flight limit %s%d (max %d)",
                     h.host, h.requests, h.refusals,
                     "pinned at " if h.pinned else "settled at ", h.limit, h.max_limit)

    # ------------------------------------------------------------ a sharded run
    def _shard_base(self) -> str:
        """The snapshot the workers of this run start from (their records are filed by it)."""
        previous = self._previous
        return previous.snapshot if previous is not None and previous.snapshot else "new"

    async def _stored_lookup(self, shards: ShardStore
                             ) -> Callable[[str], Awaitable[FileEntry | None]] | None:
        """What a resumed worker finds stored already: its own record (it finished, then
        the commit failed) or, after its lock was taken over, what the bucket holds."""
        records = await anyio.to_thread.run_sync(shards.records, self._shard_base())
        own = records.get(shards.spec.index)
        if own is None and not shards.resuming:
            return None
        stored = own.files if own is not None else {}
        head = shards.resuming

        async def lookup(path: str) -> FileEntry | None:
            found = stored.get(path)
            if found is None and head:
                found = await anyio.to_thread.run_sync(shards.stored, path)
            return found
        return lookup

    async def _finish_share(self, shards: ShardStore) -> None:
        """Record what this worker stored; commit if every worker has (and the lock is ours),
        adopting their files and downloading what none of them stored."""
        ledger, spec, base = self._ledger, shards.spec, self._shard_base()
        record = ShardRecord(spec.index, spec.count, base, dict(ledger.committed_new))
        await anyio.to_thread.run_sync(shards.write_record, record)
        records = await anyio.to_thread.run_sync(shards.records, base)
        note: dict[str, Any] = {"index": spec.index, "count": spec.count,
                                "stored": len(record.files), "deferred": len(ledger.deferred)}
        self.report.notes["shard"] = note
        waiting = [i for i in range(spec.count) if i not in records]
        if waiting:
            note["waiting_for"] = waiting
            log.info("shard %s done; the last of shards %s to finish commits", spec,
                     ", ".join(map(str, waiting)))
            return
        won = self._exits.enter_context(shards.commit_lock(self._command))
        if not won:
            note["commit"] = "another worker"
            return
        current = await self._target.load_previous(self._mirror.name)
        if (current.snapshot if current else None) != (
                self._previous.snapshot if self._previous else None):
            ledger.stop(f"{self._target.where} changed since this run started (its snapshot "
                        f"is now {current.snapshot if current else None}): run the workers "
                        "again")
            return
        stored: dict[str, FileEntry] = {}
        for other in records.values():
            stored.update(other.files)
        missing = []
        for art in ledger.deferred:
            held = stored.get(art.path)
            if held is not None and entry_matches(art, held):
                ledger.entries[art.path] = held
                ledger.committed_new[art.path] = held
            else:
                missing.append(art)
        note["commit"] = "this worker"
        note["adopted"] = len(ledger.deferred) - len(missing)
        note["downloaded_for_commit"] = len(missing)
        self._commits_shards = True
        if missing:
            await self._fetch_all_now(missing)

    async def _fetch_all_now(self, arts: list[Artifact]) -> None:
        """Download what the commit needs and no worker stored (every blob, no share)."""
        fetcher = self._fetcher
        assert fetcher is not None
        fetcher.share(None)
        async with anyio.create_task_group() as tg:
            self._ledger.on_stop = tg.cancel_scope.cancel
            fetcher.start(tg)
            for art in arts:
                fetcher.claimed(art.path)
                await self._slots.acquire()
                tg.start_soon(self._process_slot, art)
        self._ledger.on_stop = lambda: None
        await fetcher.finish()

    async def _plan(self, plugin: Any, options: Any, ctx: EngineContext) -> None:
        fetcher, ledger = self._fetcher, self._ledger
        assert fetcher is not None
        async with anyio.create_task_group() as tg:
            self._tg = tg
            ledger.on_stop = tg.cancel_scope.cancel
            fetcher.start(tg)
            try:
                async for art in plugin.plan(options, ctx):
                    if not isinstance(art, Artifact):
                        raise TypeError(f"plan yielded {type(art).__name__}, not Artifact")
                    if self._kept_plan:
                        raise PlanError(f"the plan yielded {art.path} after "
                                        "keep_previous_plan() kept the previous snapshot")
                    await self.start_fetch(art)
            except Exception as exc:
                log.debug("planning failed", exc_info=True)
                if isinstance(exc, PathConflict):
                    ledger.refused = True
                # a plan stopped by a failed index fetch is reported once, as that file
                ledger.plan_failed(redact(_one_line(exc)), reported=(
                    isinstance(exc, FetchError) and exc.path in ledger.failed))
                tg.cancel_scope.cancel()
        ledger.on_stop = lambda: None
        self._tg = None
        if not ledger.refused:  # a refused run takes back what was put in place: add nothing
            await fetcher.finish()

    async def _process_slot(self, art: Artifact) -> None:
        assert self._fetcher is not None
        try:
            await self._fetcher.process(art)
        finally:
            self._slots.release()

    # ------------------------------------------- what the plan context asks for
    async def fetch_now(self, art: Artifact) -> Fetched | FetchError:
        """Bring one artifact to a verified state now (or wait for the task that does)."""
        fetcher = self._fetcher
        assert fetcher is not None
        if not self._claims.claim(art):
            await fetcher.wait_for(art.path)
        else:
            await fetcher.process(art)
        return await self._fetched(art)

    async def start_fetch(self, art: Artifact) -> None:
        """Start ``art`` as if the plan had yielded it (:meth:`fetched` waits for it)."""
        fetcher, tg = self._fetcher, self._tg
        assert fetcher is not None and tg is not None
        if not self._claims.claim(art) or fetcher.kept_without_io(art):
            return
        fetcher.claimed(art.path)
        try:
            await self._slots.acquire()
        except BaseException:
            fetcher.unclaim(art.path)
            raise
        tg.start_soon(self._process_slot, art)

    async def fetched(self, art: Artifact) -> Fetched | FetchError:
        """The result of an artifact started with :meth:`start_fetch`, once it is done."""
        assert self._fetcher is not None
        await self._fetcher.wait_for(art.path)
        return await self._fetched(art)

    async def _fetched(self, art: Artifact) -> Fetched | FetchError:
        fetcher = self._fetcher
        assert fetcher is not None and self._record is not None
        entry = self._ledger.entries.get(art.path)
        path: Path | Callable[[], Path] | None
        if entry is not None and fetcher.only_in_target(art.path):
            path = partial(fetcher.read_now, art.path)  # read back only if the plugin asks
        else:
            path = await fetcher.readable(art.path)
        if path is None or entry is None:
            error, status = self._ledger.error_for(art.path)
            return FetchError(art.path, art.url, error, status=status)
        self._record.file(art.path, entry.sha256)
        prev = self._prev_files.get(art.path)
        return Fetched(path, entry.sha256, entry.size,
                       changed=prev is None or prev.sha256 != entry.sha256)

    async def previous_file(self, path: str) -> Path | None:
        if path not in self._prev_files:
            return None
        assert self._fetcher is not None
        return await self._fetcher.read_previous(path)

    def fail_path(self, path: str, reason: str, url: str | None) -> None:
        art = self._claims.planned.get(path)
        if art is None:
            art = Artifact(path, url=url or "plugin:")
        self._ledger.fail(art, reason)

    def note(self, key: str, value: Any) -> None:
        self.report.notes[key] = value

    async def get(self, url: str, *, headers: Mapping[str, str] | None, auth: Auth | None,
                  max_bytes: int, method: str, content: bytes | None,
                  max_retry_after: float | None, conditional: Validators | None) -> Response:
        assert self._downloader is not None and self._record is not None
        try:
            response = await self._downloader.get(
                url, headers=headers, auth=auth, max_bytes=max_bytes, method=method,
                content=content, max_retry_after=max_retry_after, conditional=conditional)
        except FetchError as exc:
            self._record.failure(method, url, exc.status)
            raise
        self._record.response(method, url, response.status_code, response.content,
                              sent=conditional, got=response.validators)
        return response

    def keep_previous_plan(self) -> bool:
        assert self._record is not None
        if getattr(self._target, "shards", None) is not None:
            return False  # every worker plans: the last one to finish commits the plan
        kept = self._record.checkpoint(
            self._previous.stale_since_min if self._previous is not None else None,
            self._settings.prune_grace)
        if kept:
            self._kept_plan = True
            log.info("every input of the plan is as the last run read it: the snapshot %s "
                     "stays", self._previous.snapshot if self._previous else None)
        return kept

    def keep_previous(self, paths: Iterable[str] | None = None, *,
                      all_or_nothing: bool = True) -> bool:
        """Files of the previous snapshot as planned files of this run (``ctx.keep_previous``).

        One stat per file (none for a bucket, whose state is the truth) instead of one
        artifact: a no-op of a large mirror costs what reading its manifest costs. Without
        ``paths``, the whole previous snapshot is the plan (nothing may be planned yet);
        with them, exactly those files, beside whatever else the plugin plans. Each file
        must be in the previous snapshot, not only for its ``prune_grace`` (those are
        pruned in their time), not planned otherwise, and, in a local tree, on disk with
        its recorded size, as for a kept artifact: all of them, or (``all_or_nothing``
        False) those that are.
        """
        if self._previous is None or self._kept_plan:
            return False
        named = paths is not None
        if paths is None:
            if self._claims.planned or self._ledger.entries:
                return False
            paths = [p for p, e in self._all_previous().items() if e.stale_since is None]
        kept = self._previous_in_place(paths, all_or_nothing)
        if kept is None:
            return False
        self._claims.add_kept(kept, beside_plan=named)
        self._ledger.entries.update(kept)
        self.report.skipped += len(kept)
        return True

    def _previous_in_place(self, paths: Iterable[str],
                           strict: bool) -> dict[str, FileEntry] | None:
        """The previous entries of ``paths`` that can be kept (None: ``strict`` and one
        cannot)."""
        prev, planned, entries = self._all_previous(), self._claims.planned, self._ledger.entries
        kept: dict[str, FileEntry] = {}
        tree = self._target.tree
        with TreeSizes(tree) if tree is not None else nullcontext(None) as size_of:
            for path in paths:
                if path in kept:
                    continue
                entry = prev.get(path)
                if (entry is None or entry.stale_since is not None or path in planned
                        or path in entries
                        or (size_of is not None and size_of(path) != entry.size)):
                    if strict:
                        return None
                    continue
                kept[path] = entry
        return kept


_KNOWN_ERRORS = ("PlanError", "PlanConflict", "PathConflict", "UnsafePathError", "FetchError",
                 "DigestError")


def _one_line(exc: BaseException) -> str:
    """An exception as the one line an operator reads (class name only for surprises)."""
    text = " ".join(str(exc).split())
    if type(exc).__name__ in _KNOWN_ERRORS and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
