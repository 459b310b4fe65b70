"""One planned file to a verified state: kept, downloaded, copied, or linked at the commit.

For each artifact the cheapest answer wins: a file the previous snapshot has with the
digest the plan expects is kept (one ``stat`` of a local tree, nothing for a bucket); a file
already at its final path from a killed run is re-hashed and adopted; anything else is
downloaded (indexes conditionally) or copied from the plugin's own output, verified, and
staged. A verified blob at a path nothing names yet goes into a local tree at once, off the
event loop (:mod:`.early_commit`); everything else waits in the ledger for the commit.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import anyio

from ..fileops import copy_hashing, hash_file, write_chunks
from ..plan.artifact import Artifact, Kind
from ..plan.claims import entry_matches
from ..plan.digest import Digest
from ..plan.registry import FetchError
from ..store.changeset import ancestors
from ..store.manifest import FileEntry
from ..store.safefs import UnsafeDestination
from .early_commit import HOLD_BODY, HOLD_LIMIT, EarlyCommits, Pending
from .result import FetchResult
from .staging import Staging

if TYPE_CHECKING:
    from ..run.ledger import RunLedger
    from ..store.target import Target
    from .downloader import Downloader

__all__ = ["FetchObserver", "Fetcher"]


class FetchObserver(Protocol):
    def done(self, artifact: Artifact, outcome: str) -> None: ...


def upstream_digest(art: Artifact) -> Digest | None:
    """The artifact's expected digest when it is not sha256 (which the core always computes)."""
    return art.digest if art.digest is not None and art.digest.algorithm != "sha256" else None


def _recorded_digest(art: Artifact) -> str | None:
    """What the manifest keeps beside the sha256: the upstream digest, if it is another."""
    upstream = upstream_digest(art)
    return str(upstream) if upstream is not None else None


class Fetcher:
    """Brings artifacts to a verified state for one run, recording each in the ledger."""

    def __init__(self, *, target: Target, staging: Staging, downloader: Downloader,
                 ledger: RunLedger, previous: Mapping[str, FileEntry],
                 planned: dict[str, Artifact], observer: FetchObserver,
                 dry_run: bool) -> None:
        self._target = target
        self._tree = target.tree  # a local tree checked in place, or None (a bucket)
        self._staging = staging
        self._downloader = downloader
        self._ledger = ledger
        self._report = ledger.report
        self._prev = previous
        self._planned = planned
        self._observer = observer
        self._dry = dry_run
        self._in_progress: dict[str, anyio.Event] = {}
        #: kept files of a bucket whose bytes are not here (fetched if a plugin reads them)
        self._remote_kept: set[str] = set()
        self._early = EarlyCommits(lambda batch: target.commit_early(batch, staging),
                                   self._early_done, batch=target.early_batch,
                                   threads=target.early_threads)
        # dry run: downloads, of unknown size, bytes; added to the report once at the end
        # (a report field costs a pydantic __setattr__ per update)
        self._would = [0, 0, 0]
        # a worker of a sharded run: which paths it downloads, and what the bucket may
        # already hold of them (a resumed worker)
        self._owns: Callable[[str], bool] | None = None
        self._stored: Callable[[str], Awaitable[FileEntry | None]] | None = None

    def share(self, owns: Callable[[str], bool] | None,
              stored: Callable[[str], Awaitable[FileEntry | None]] | None = None) -> None:
        """Download only the blobs ``owns`` says are this worker's (the rest is deferred);
        ``stored`` answers what the target holds already. None: every blob, as usual."""
        self._owns, self._stored = owns, stored

    # ------------------------------------------------------------------ lifecycle
    def start(self, tg: anyio.abc.TaskGroup) -> None:
        self._early.start(tg)

    async def finish(self) -> None:
        """Put the last early commits in place (the downloads are over)."""
        await self._early.finish()

    def dry_totals(self) -> tuple[int, int, int]:
        downloads, unknown, size = self._would
        return downloads, unknown, size

    # -------------------------------------------------------------- the fast path
    def kept_without_io(self, art: Artifact) -> bool:
        """The no-op fast path: an unchanged file costs one stat, not a task."""
        if art.link_to is not None:  # links cost nothing until the commit
            try:
                self._observer.done(art, self._plan_link(art))
            except FetchError as exc:
                self._ledger.fail(art, exc.reason, exc.status)
            return True
        if art.url is None:
            prev = self._unchanged_local(art)
            if prev is None:
                return False
            self._keep(art, prev)
            self._observer.done(art, "kept")
            return True
        prev = self._unchanged(art)
        if prev is not None:
            self._keep(art, prev)
            self._observer.done(art, "kept")
            return True
        if self._dry and art.kind is Kind.BLOB:
            # a dry run never downloads a blob: planning an empty mirror of 400,000
            # packages spent most of its time starting a task for each
            self._observer.done(art, self._would_download(art))
            return True
        return False

    def _keep(self, art: Artifact, entry: FileEntry) -> str:
        if self._tree is None:
            self._remote_kept.add(art.path)
        return self._ledger.keep(art, entry)

    def _unchanged(self, art: Artifact) -> FileEntry | None:
        """The manifest entry of a URL artifact that needs no request at all, else None.

        Conditional indexes always ask upstream; anything else is kept when its entry matches
        what the plan expects and the file on disk still has the recorded size.
        """
        if art.kind is Kind.INDEX and not art.immutable:
            return None
        prev = self._prev.get(art.path)
        if prev is None or not entry_matches(art, prev):
            return None
        # a string join: a Path per kept file was a fifth of a 90,000-file no-op run
        if (not self._dry and self._tree is not None
                and _size_on_disk(os.path.join(self._tree, art.path)) != prev.size):
            return None
        return prev

    def _unchanged_local(self, art: Artifact) -> FileEntry | None:
        """The entry of a local artifact already in place (generated pages re-planned by a
        no-op): the same test as :meth:`_process_local`, two stats and no task."""
        prev = self._prev.get(art.path)
        if prev is None or art.source is None or self._tree is None:
            return None
        try:
            st, fst = os.stat(art.source), os.stat(os.path.join(self._tree, art.path))
        except OSError:
            return None
        if (fst.st_size == st.st_size == prev.size and fst.st_mtime_ns == st.st_mtime_ns
                and (art.digest is None or entry_matches(art, prev))):
            return prev
        return None

    # ------------------------------------------------------------ one artifact
    def claimed(self, path: str) -> None:
        """``path`` is in progress from now on: a ``ctx.fetch`` of the same file before its
        task starts waits for it instead of finding nothing to read."""
        self._in_progress[path] = anyio.Event()

    def unclaim(self, path: str) -> None:
        event = self._in_progress.pop(path, None)
        if event is not None:
            event.set()

    async def wait_for(self, path: str) -> None:
        event = self._in_progress.get(path)
        if event is not None:
            await event.wait()

    async def process(self, art: Artifact) -> None:
        """Bring ``art`` to a verified state; failures go to the ledger, not up."""
        event = self._in_progress.get(art.path)
        if event is None:
            event = self._in_progress[art.path] = anyio.Event()
        try:
            outcome = await self._process(art)
            self._observer.done(art, outcome)
        except FetchError as exc:
            self._ledger.fail(art, exc.reason, exc.status)
        except OSError as exc:
            self._file_error(art, exc)
        finally:
            event.set()
            del self._in_progress[art.path]

    async def readable(self, path: str) -> Path | None:
        """Where to read a processed file's bytes (a kept file of a bucket is fetched now)."""
        if self._early.pending(path):
            await self._early.wait_for(path)  # its staging name is about to go away
        readable = self._ledger.readable
        if path in self._remote_kept:
            self._remote_kept.discard(path)
            readable[path] = await self._target.read_kept(path, self._staging)
        found = readable.get(path)
        if found is None and path in self._ledger.entries and self._tree is not None:
            # a kept file's path is built only when asked for: a no-op run keeps every
            # file, and building a Path for each cost more than the stat that checked it
            return Path(self._tree, path)
        if found is None and path in self._ledger.entries:
            readable[path] = await self._target.read_kept(path, self._staging)
            return readable[path]
        return found

    def only_in_target(self, path: str) -> bool:
        """A processed file whose bytes are only in the target (a bucket's kept file)."""
        if self._tree is not None or self._early.pending(path):
            return False
        return path in self._remote_kept or (path not in self._ledger.readable
                                             and path in self._ledger.entries)

    def read_now(self, path: str) -> Path:
        """The bytes of such a file, read back now (blocking: for a plugin that asks)."""
        found = self._ledger.readable.get(path)
        if found is None:
            found = self._ledger.readable[path] = self._target.read_kept_now(
                path, self._staging)
            self._remote_kept.discard(path)
        return found

    async def read_previous(self, path: str) -> Path | None:
        """The bytes the previous snapshot has at ``path`` (a tree's file, or the bucket's
        object fetched now), whether or not this run plans it."""
        if self._tree is not None:
            full = Path(self._tree, path)
            return full if full.is_file() else None
        return await self._target.read_kept(path, self._staging)

    def _file_error(self, art: Artifact, exc: OSError) -> None:
        """A file that could not be written or put in place: the file, or the run, fails."""
        if isinstance(exc, UnsafeDestination):
            self._ledger.refuse(f"refused: {exc}; the mirror is unchanged")
        elif exc.errno in _FATAL_ERRNOS:
            self._ledger.stop(f"{exc.strerror} in {self._target.where}: the run stopped; the "
                              "previous snapshot is still served")
        else:
            self._ledger.fail(art, f"{exc.strerror or exc} ({exc.filename or art.path})")

    def _early_done(self, item: Pending, error: OSError | None) -> None:
        """A new file's batch is done (:mod:`.early_commit`): it is in place, or it failed."""
        ledger = self._ledger
        if error is None:
            where = self._target.early_readable(item, self._staging)
            if where is None:
                ledger.readable.pop(item.path, None)
            else:
                ledger.readable[item.path] = where
            ledger.committed_new[item.path] = item.entry
            return
        ledger.entries.pop(item.path, None)
        ledger.readable.pop(item.path, None)
        self._report.downloaded -= 1
        self._report.bytes_downloaded -= item.entry.size
        self._file_error(self._planned[item.path], error)

    async def _process(self, art: Artifact) -> str:
        prev = self._prev.get(art.path)
        if art.link_to is not None:
            return self._plan_link(art)
        final = os.path.join(self._tree, art.path) if self._tree is not None else None
        if art.source is not None:
            return await self._process_local(art, prev, final)
        conditional = art.kind is Kind.INDEX and not art.immutable
        unchanged = self._unchanged(art)
        if unchanged is not None:
            return self._keep(art, unchanged)
        if not conditional and not self._dry and art.digest is not None and final is not None:
            adopted = await self._adopt_existing(art, final)
            if adopted is not None:
                return self._keep(art, adopted)
        if self._dry and art.kind is Kind.BLOB:
            return self._would_download(art)
        early = self._goes_early(art, final)
        if self._owns is not None and art.kind is Kind.BLOB:
            if not early:  # another worker's, or one the commit replaces in its order
                self._ledger.deferred.append(art)
                return "deferred"
            held = await self._stored(art.path) if self._stored is not None else None
            if held is not None and entry_matches(art, held):  # a resumed worker's file
                entry = FileEntry(size=held.size, sha256=held.sha256, kind=art.kind,
                                  digest=_recorded_digest(art), order=art.order)
                self._ledger.committed_new[art.path] = entry
                return self._ledger.keep(art, entry)
        tmp = self._staging.new_path()
        has_prev_file = prev is not None and (final is None or _size_on_disk(final) == prev.size)
        validators = conditional and prev is not None and has_prev_file
        result = await self._downloader.download(
            art, tmp,
            etag=prev.etag if validators and prev else None,
            last_modified=prev.last_modified if validators and prev else None,
            # a small new file is written by the early commits' thread, not on the loop
            hold_up_to=HOLD_BODY if early else 0,
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
        entry = _entry_for(art, result)
        self._report.bytes_downloaded += result.size
        if conditional and prev is not None and has_prev_file and prev.sha256 == entry.sha256:
            tmp.unlink(missing_ok=True)  # upstream sent the same bytes again: nothing changed
            return self._keep(art, entry)
        self._report.downloaded += 1
        self._stage(art, tmp, entry, result.mtime, early, body)
        if early and self._owns is not None:
            # a worker's file is in flight until it is stored: a worker killed now loses
            # only the files its requests were busy with
            await self._early.wait_for(art.path)
        return "downloaded"

    def _would_download(self, art: Artifact) -> str:
        self._ledger.would_change[art.path] = art.size
        self._would[0] += 1
        if art.size is None:
            self._would[1] += 1
        else:
            self._would[2] += art.size
        return "would-download"

    def _goes_early(self, art: Artifact, final: str | None) -> bool:
        """Whether a verified file can go into place at once (:mod:`.early_commit`): a new
        path that nothing names yet, in a target that takes such files during the run."""
        return not (not self._target.early_store or self._dry or art.kind is Kind.INDEX
                    or (self._owns is not None
                        and (art.url is None or not self._owns(art.path)))
                    or art.path in self._prev
                    or (final is not None and os.path.lexists(final))
                    or any(a in self._prev for a in ancestors(art.path)))

    def _stage(self, art: Artifact, tmp: Path, entry: FileEntry, mtime: float | None,
               early: bool, body: tuple[bytes, ...] | None = None) -> None:
        """Record a verified file; ``body``: its bytes, not yet written to ``tmp`` (only for
        a file that goes into place early: the early commits' thread writes it)."""
        assert body is None or early
        if early:  # into place now, off the event loop
            self._early.queue(Pending(art.path, tmp, entry, mtime, body))
            self._ledger.entries[art.path] = entry
            self._ledger.readable[art.path] = tmp
            return
        if self._dry:
            self._ledger.entries[art.path] = entry  # what plan lists: the size it would commit
            self._ledger.readable[art.path] = tmp
            return
        self._ledger.stage(art, tmp, entry, mtime)

    async def _adopt_existing(self, art: Artifact, final: str) -> FileEntry | None:
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

    async def _process_local(self, art: Artifact, prev: FileEntry | None,
                             final: str | None) -> str:
        assert art.source is not None
        src = art.source
        st = os.stat(src)  # the plugin's own work directory: cheaper here than on a thread
        if prev is not None and final is not None:
            try:
                fst = os.stat(final)
                same = (fst.st_size == st.st_size == prev.size
                        and fst.st_mtime_ns == st.st_mtime_ns
                        and (art.digest is None or entry_matches(art, prev)))
            except FileNotFoundError:
                same = False
            if same:
                return self._keep(art, prev)
        if self._dry:
            # what the run would find after copying: the same bytes are kept (a dry run's
            # work directory is a scratch one, so its files are always newer)
            if (prev is not None and st.st_size == prev.size
                    and (final is None or _size_on_disk(final) == prev.size)
                    and await anyio.to_thread.run_sync(hash_file, src) == prev.sha256):
                return self._keep(art, prev)
            self._report.copied += 1
            self._report.bytes_to_download += st.st_size
            self._ledger.readable[art.path] = src
            self._ledger.would_change[art.path] = st.st_size
            return "would-copy"
        tmp = self._staging.new_path()
        upstream = upstream_digest(art)
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
                final is None or _size_on_disk(final) == prev.size):
            # same bytes, only the timestamp moved: adopt the source's mtime in place
            tmp.unlink(missing_ok=True)
            if final is not None:
                os.utime(final, ns=(st.st_mtime_ns, st.st_mtime_ns))
            return self._keep(art, entry)
        self._report.copied += 1
        self._report.bytes_downloaded += st.st_size
        os.utime(tmp, ns=(st.st_mtime_ns, st.st_mtime_ns))  # exact: the next run compares it
        self._stage(art, tmp, entry, None, self._goes_early(art, final))
        return "copied"

    def _plan_link(self, art: Artifact) -> str:
        """A link costs nothing now; it is made at commit time, once its target is in place."""
        target = self._planned.get(art.link_to or "")
        if target is None or target.kind is not Kind.BLOB or target.link_to is not None:
            raise FetchError(art.path, None,
                             f"link target {art.link_to} is not a blob planned before it")
        self._ledger.links.append(art)
        return "linked"


def _entry_for(art: Artifact, result: FetchResult) -> FileEntry:
    return FileEntry(
        size=result.size,
        sha256=result.sha256,
        kind=art.kind,
        digest=_recorded_digest(art),
        etag=result.etag if art.kind is Kind.INDEX else None,
        last_modified=result.last_modified if art.kind is Kind.INDEX else None,
        order=art.order,
    )


def _size_on_disk(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except (FileNotFoundError, NotADirectoryError):
        return None


# local files up to this size are copied on the event loop: a trip to a worker thread and
# back costs more than copying and hashing them (generated index pages are a few KiB)
_INLINE_COPY = 64 * 1024

# no retry and no other file can succeed after these: stop the run at the first one
_FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
