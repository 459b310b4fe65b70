"""The registry plugin API: what a plugin implements, and the context the core hands it.

A registry only says *what* to mirror by yielding :class:`Artifact` objects from ``plan``;
concurrency, retries, verification, staging, manifests, pruning and reports are the core's.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from ..store.previous import PreviousSnapshot
from .artifact import Artifact
from .state import PluginState

if TYPE_CHECKING:
    from ..transport import Auth, Response, Validators

__all__ = ["FetchError", "Fetched", "PlanContext", "PlanError", "RegistryPlugin"]


class PlanError(Exception):
    """The plugin cannot plan: upstream data is malformed or missing. One clear line."""


class FetchError(Exception):
    """A file could not be fetched (after retries) or did not verify.

    ``status`` is the HTTP status that ended it (404, 410, 503 ...), None when no status
    did (a refused connection, bytes that did not verify), so a plugin tells "not there"
    from "not now" without reading the message.
    """

    def __init__(self, path: str, url: str | None, reason: str, *,
                 status: int | None = None) -> None:
        super().__init__(f"{path}: {reason}" + (f" (from {url})" if url else ""))
        self.path = path
        self.url = url
        self.reason = reason
        self.status = status


class Fetched:
    """A file of the plan, verified: where to read it, and what it is.

    ``changed`` says whether its content differs from the previous snapshot's file at the
    same path (False for a file kept, answered 304, or downloaded again with the same
    bytes), so a plugin never needs to hash or compare it itself. It reads like a path
    (``read_bytes``, ``open``, ``os.fspath``). A kept file of a mirror that lives in a bucket
    is read back from the bucket only when its bytes are first asked for (``path``): a
    plugin that learns from ``changed`` or :meth:`PlanContext.keep_previous_plan` that it
    need not read it costs no transfer.
    """

    __slots__ = ("_load", "_path", "changed", "sha256", "size")

    def __init__(self, path: Path | Callable[[], Path], sha256: str, size: int,
                 changed: bool) -> None:
        self._path = path if isinstance(path, Path) else None
        self._load = None if isinstance(path, Path) else path
        self.sha256 = sha256
        self.size = size
        self.changed = changed

    @property
    def path(self) -> Path:
        """A local file with the bytes (read only)."""
        if self._path is None:
            assert self._load is not None
            self._path = self._load()
        return self._path

    def __fspath__(self) -> str:
        return str(self.path)

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.path.read_text(encoding, errors)

    def open(self, mode: str = "rb") -> IO[Any]:
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("a fetched file is read only")
        return open(self.path, mode)

    def __repr__(self) -> str:
        return f"Fetched({self.sha256[:12]}, {self.size} bytes, changed={self.changed})"


class PlanContext(abc.ABC):
    """Given to ``RegistryPlugin.plan``; implemented by the engine."""

    #: The mirror's name (from the config, or the registry name on the command line).
    mirror: str
    #: A directory the plugin owns for this run: in a local mirror it survives between runs
    #: (git work repositories); into a bucket it is a fresh one each run. What must survive
    #: wherever the mirror lives goes in :attr:`state`.
    work_dir: Path
    #: True for ``--dry-run`` / ``mirrorkit plan``: fetched indexes go to a scratch directory.
    dry_run: bool
    #: Files the plugin keeps between runs, saved with the snapshot (:class:`PluginState`).
    state: PluginState
    log: logging.Logger
    #: Seconds a file that left the plan stays published (``--prune-grace``); a plugin that
    #: keeps private state per published thing (git work repositories) drops it after this.
    prune_grace: float = 0.0

    @property
    def previous(self) -> PreviousSnapshot | None:
        """The last committed snapshot, or None on the first run: ``snapshot``,
        ``created`` and ``files`` (path to :class:`FileEntry`, loaded in full only when
        a plan asks for more than index files)."""
        return None

    @abc.abstractmethod
    async def fetch(self, artifact: Artifact) -> Fetched:
        """Fetch (or reuse) ``artifact`` now; where to read it, its sha256 and whether it
        changed since the previous snapshot.

        The artifact is part of the plan as if it had been yielded: staged now, committed in
        its turn (an index last). Raises :class:`FetchError` when it cannot be had.
        """

    def fetch_all(self, artifacts: Iterable[Artifact]
                  ) -> AsyncIterator[tuple[Artifact, Fetched | FetchError]]:
        """Start every fetch at once (as many in flight as the run's limits allow) and give
        each result back in the order given, as soon as it and those before it are done.

        The way to read many files of the plan (manifests, metadata) without waiting for
        each in turn; a file that cannot be had comes back as its :class:`FetchError`.
        """
        return _one_by_one(self, artifacts)

    async def previous_file(self, path: str) -> Path | None:
        """A local file with the bytes the previous snapshot has at ``path`` (wherever the
        mirror lives: read from the bucket when it is one), or None when it has none.

        For a plugin that reads what it mirrored before without planning it again (the
        published refs of a git repository). Read only.
        """
        return None

    @abc.abstractmethod
    async def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: Auth | None = None,
        max_bytes: int = 64 * 1024 * 1024,
        method: str = "GET",
        content: bytes | None = None,
        max_retry_after: float | None = None,
        conditional: Validators | None = None,
    ) -> Response:
        """A transient request through the run's transport (limits, retries, proxies, CA).

        Nothing is stored. The body is read into memory (at most ``max_bytes``); a status
        of 300 or more (after redirects) raises :class:`FetchError` (with its ``status``).
        ``content`` is the request body (a JSON API's POST). ``max_retry_after`` is the
        longest ``Retry-After`` or rate-limit reset this request waits for: a longer one
        fails it at once, so the plugin can take another way (the run's
        ``--max-retry-after`` still caps every wait). ``conditional``: the validators of an
        earlier response (``response.validators``, kept in :attr:`state`); a 304 then comes
        back as a response whose ``not_modified`` is True instead of an error.
        """

    @abc.abstractmethod
    def fail(self, path: str, reason: str, *, url: str | None = None) -> None:
        """Report a planned file as failed after the plugin checked its content.

        For problems only the plugin can see (a manifest that lacks a bottle the index
        promises): the run fails like on a bad download, no index is committed, and the
        report lists ``path`` with ``reason``.
        """

    def note(self, key: str, value: Any) -> None:
        """Record a fact about this run in the report's ``notes`` (``--json``, notifiers).

        For what only the plugin knows and an operator may act on (the git-tree registry
        notes that it fell back to a clone). Values must be JSON-serialisable. A context
        without a report (this default) only logs the fact.
        """
        self.log.debug("note: %s = %r", key, value)

    def keep_previous(self, paths: Iterable[str] | None = None, *,
                      all_or_nothing: bool = True) -> bool:
        """Keep files of the previous snapshot as planned, when every one is in place.

        Instead of yielding every artifact again, the plugin asks the core to keep them.
        True means done (each file was found: on disk with its recorded size in a local
        mirror, in the bucket's state for a bucket); False means plan them as usual (a file
        is missing or changed on disk, a dry run, or a context that cannot do it).

        Without ``paths``, the whole previous snapshot is kept (nothing may be planned
        yet; yield nothing more). With ``paths``, only those files, and the plugin goes on
        planning the rest (a conda subdir whose ``repodata.json`` did not change, beside
        one that did; apt's files that left an index but are kept as apt-mirror keeps
        them). The plugin vouches that each file's entry in ``previous.files`` is what it
        would plan (digest and size); the core checks that each is in the previous
        snapshot, outside its prune grace, and not planned otherwise. All or nothing:
        False keeps none of them; with ``all_or_nothing=False``, those that can be kept
        are, the others are left out (a file gone from the tree stays gone).
        """
        return False

    def keep_previous_plan(self) -> bool:
        """Keep the previous snapshot as this run's, when every input read so far is what
        the last complete run read at this point.

        A plugin calls this once it has read what decides its plan (the index files, the
        serial of a project list) and before it parses them. The core compares each file
        fetched and each response got so far in this run (by content) and the mirror's
        options with its record of the last run that committed; when all are the same, the
        plan would be the previous one: the run keeps that snapshot as it is, without
        parsing, statting or yielding anything more, and this returns True (return from
        ``plan``). Otherwise it returns False, and the record made now is saved with the
        snapshot this run commits. A no-op re-run then costs its conditional requests.
        """
        return False


async def _one_by_one(ctx: PlanContext, artifacts: Iterable[Artifact]
                      ) -> AsyncIterator[tuple[Artifact, Fetched | FetchError]]:
    """:meth:`PlanContext.fetch_all` for a context that can only fetch one at a time."""
    for art in artifacts:
        try:
            yield art, await ctx.fetch(art)
        except FetchError as exc:
            yield art, exc


@runtime_checkable
class RegistryPlugin(Protocol):
    """What ``registries.add(...)`` accepts (a class; the core instantiates it per run)."""

    name: str
    summary: str
    Options: type[BaseModel]

    def plan(self, options: Any, ctx: PlanContext) -> AsyncIterator[Artifact]:
        """Yield every artifact of the mirror. May ``await ctx.fetch(...)`` indexes first."""
        ...
