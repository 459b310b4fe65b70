"""The snapshot a run starts from, loaded no further than the run needs.

A run whose plan is kept (``ctx.keep_previous_plan``) needs of the previous snapshot only its
id, its state files, the entries of the index files it fetched and whether anything is due
for pruning: all of that is in the manifest's head (``manifest.head.json``). Loading the
whole manifest (400,000 entries of a conda channel, 57 MB of JSON) was most of such a no-op;
here it is loaded the first time something asks for an entry the head does not have, or for
the file list as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from .manifest import FileEntry, Manifest, ManifestHead, StateRef

__all__ = ["PreviousFiles", "PreviousSnapshot"]


class PreviousFiles(Mapping[str, FileEntry]):
    """The previous snapshot's files: the head's index entries at once, the rest when asked."""

    def __init__(self, indexes: Mapping[str, FileEntry], count: int,
                 load: Callable[[], Manifest]) -> None:
        self._indexes = indexes
        self._count = count
        self._load = load
        self._all: dict[str, FileEntry] | None = None

    def full(self) -> dict[str, FileEntry]:
        """Every entry (the whole manifest is loaded now if it was not)."""
        if self._all is None:
            self._all = self._load().files
        return self._all

    def get(self, path: str, default: FileEntry | None = None) -> FileEntry | None:  # type: ignore[override]
        found = self._indexes.get(path) if self._all is None else None
        return found if found is not None else self.full().get(path, default)

    def __getitem__(self, path: str) -> FileEntry:
        found = self.get(path)
        if found is None:
            raise KeyError(path)
        return found

    def __contains__(self, path: object) -> bool:
        return (self._all is None and path in self._indexes) or path in self.full()

    def __iter__(self) -> Iterator[str]:
        return iter(self.full())

    def __len__(self) -> int:
        return self._count if self._all is None else len(self._all)


class PreviousSnapshot:
    """The previous snapshot: its head's fields now, its manifest when first needed.

    This is ``ctx.previous`` for a plugin: ``snapshot``, ``created`` and ``files`` (a
    mapping of path to :class:`FileEntry`) as a manifest has them. Asking ``files`` for an
    index file answers from the head; anything else (another path, iterating) loads the
    manifest once, so a plan that keeps the previous plan pays for neither.
    """

    def __init__(self, head: ManifestHead | Manifest, load: Callable[[], Manifest]) -> None:
        self.mirror = head.mirror
        self.registry = head.registry
        self.snapshot = head.snapshot
        self.created = head.created
        self.state: dict[str, StateRef] = head.state
        self._manifest = head if isinstance(head, Manifest) else None
        self._load = load
        if isinstance(head, Manifest):
            self.stale_since_min = head.stale_since_min()
            self.files = PreviousFiles({}, len(head.files), lambda: head)
        else:
            self.stale_since_min = head.stale_since_min
            self.files = PreviousFiles(head.indexes, head.count, self.manifest)

    def manifest(self) -> Manifest:
        """The whole manifest (loaded now if it was not)."""
        if self._manifest is None:
            self._manifest = self._load()
        return self._manifest

    @classmethod
    def of(cls, manifest: Manifest | None) -> PreviousSnapshot | None:
        return None if manifest is None else cls(manifest, lambda: manifest)
