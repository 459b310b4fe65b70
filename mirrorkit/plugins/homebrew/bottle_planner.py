"""Bottles, their OCI manifests and (optionally) the flat bottle layout.

Manifests are planned in batches: those that must be read (new ones, ones not known to name
every selected bottle, or, for ``mirrorkit plan``, ones whose bottles are new and need a
size) are all put in flight at once (``ctx.fetch_all``), and each one's blobs and flat links
are yielded as soon as it has been read, while later manifests are still on their way. A
re-run with nothing new asks upstream for no manifest and no blob at all.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from functools import partial

from mirrorkit.api import Artifact, Fetched, FetchError, PlanContext

from .coverage import Bottles, ManifestCoverage
from .oci import OCI_INDEX_MEDIA_TYPE, BottleRef, ManifestError, image_name, read_manifest_bottles
from .planner import HomebrewPlan, in_thread

__all__ = ["BottlePlanner"]

log = logging.getLogger("mirrorkit.registry.homebrew")


# A manifest up to this size is read and checked on the event loop: a trip to a worker
# thread cost more CPU than parsing one (they are 2 to 20 KB; 440 of them, one thread trip
# each, were a tenth of the CPU of a tag's first mirror)
INLINE_CHECK_BYTES = 256 * 1024


class BottlePlanner:
    batch = 256

    def __init__(self) -> None:
        self._blobs: set[str] = set()
        self._flat: dict[str, str] = {}

    def _manifest(self, state: HomebrewPlan, ref: BottleRef, *, known: bool) -> Artifact:
        tag = ref.manifest_path.rsplit("/", 1)[1]
        return Artifact.index(
            ref.manifest_path,
            f"{state.options.registry_url}/{image_name(ref.formula)}/manifests/{tag}",
            headers={"Accept": OCI_INDEX_MEDIA_TYPE},
            auth=state.auth,
            immutable=known,
            response_digest_header="Docker-Content-Digest",
        )

    def _bottle(self, state: HomebrewPlan, ref: BottleRef, bottles: Bottles | None
                ) -> Iterator[Artifact]:
        blob_path = ref.blob_path
        if blob_path not in self._blobs:
            self._blobs.add(blob_path)
            size = None
            if state.ctx.dry_run and bottles is not None:  # only to estimate: sha256 decides
                found = bottles.get(ref.ref_name)
                size = found[1] if found and found[0] == ref.sha256 else None
            yield Artifact.blob(
                blob_path,
                f"{state.options.registry_url}/{image_name(ref.formula)}/blobs/"
                f"sha256:{ref.sha256}",
                sha256=ref.sha256, size=size, auth=state.auth,
            )
        if state.options.flat_bottles:
            other = self._flat.get(ref.flat_path)
            if other is None:
                self._flat[ref.flat_path] = blob_path
                yield Artifact.link(ref.flat_path, blob_path)
            elif other != blob_path:
                log.warning("%s: upstream names two bottles (%s and %s); keeping the first",
                            ref.flat_path, other, blob_path)

    def _must_read(self, state: HomebrewPlan, refs: list[BottleRef], bottles: Bottles | None,
                   in_mirror: bool) -> bool:
        if state.ctx.dry_run:  # read only what the size estimate needs
            previous = state.ctx.previous.files if state.ctx.previous else {}
            return not in_mirror or (
                bottles is None and any(r.blob_path not in previous for r in refs))
        return bottles is None or bool(ManifestCoverage.missing(bottles, refs))

    def _check(self, path: str, refs: list[BottleRef], file: Fetched,
               coverage: ManifestCoverage) -> tuple[Bottles | None, str | None]:
        """The bottles a fetched manifest names, and what is wrong with it (if anything)."""
        try:
            body = file.read_bytes()
        except OSError as exc:
            return None, f"not readable ({exc.strerror or exc})"
        try:
            bottles = read_manifest_bottles(body)
        except ManifestError as exc:
            return None, str(exc)
        missing = ManifestCoverage.missing(bottles, refs)
        if missing:
            return bottles, (f"does not name bottle {missing[0].ref_name} (sha256 "
                             f"{missing[0].sha256}): brew would refuse to install it")
        coverage.record(file.sha256, bottles)
        return bottles, None

    async def _read(self, ctx: PlanContext, path: str, refs: list[BottleRef],
                    got: Fetched | FetchError, coverage: ManifestCoverage,
                    known: Bottles | None) -> Bottles | None:
        """A fetched manifest's bottles; one that is wrong fails the run (the old index stays
        served), one that could not be fetched is reported by the engine (and what was
        ``known`` of it stands)."""
        if isinstance(got, FetchError):
            log.debug("manifest not fetched: %s", got)
            return known
        check = partial(self._check, path, refs, got, coverage)
        bottles, problem = (check() if got.size <= INLINE_CHECK_BYTES
                            else await in_thread(check))
        if problem is not None:
            ctx.fail(path, problem)
        return bottles

    async def plan(self, state: HomebrewPlan) -> AsyncIterator[Artifact]:
        ctx = state.ctx
        refs = state.bottles
        by_manifest: dict[str, list[BottleRef]] = {}
        for ref in refs:
            by_manifest.setdefault(ref.manifest_path, []).append(ref)
        ctx.log.info("homebrew: %d bottles in %d manifests", len(refs), len(by_manifest))
        coverage = await ManifestCoverage.load(ctx.state)
        previous = ctx.previous.files if ctx.previous else {}
        items = list(by_manifest.items())
        for start in range(0, len(items), self.batch):
            chunk = items[start:start + self.batch]
            known: dict[str, Bottles | None] = {}
            reread: dict[str, Artifact] = {}
            for path, mrefs in chunk:
                entry = previous.get(path)
                known[path] = coverage.bottles(entry.sha256 if entry else None)
                if self._must_read(state, mrefs, known[path], entry is not None):
                    reread[path] = self._manifest(state, mrefs[0], known=False)
            # their tokens asked for together, not one request per repository
            state.auth.expect(a.url for a in reread.values() if a.url is not None)
            # the manifests to read are all in flight at once, their results in order; each
            # one's bottles follow as soon as it is read and checked, while later manifests
            # are still on their way (waiting for the whole batch left the pipe half empty)
            results = aiter(ctx.fetch_all(reread.values()))
            for path, mrefs in chunk:
                if path in reread:
                    _art, got = await anext(results)
                    known[path] = await self._read(ctx, path, mrefs, got, coverage,
                                                   known[path])
                else:
                    yield self._manifest(state, mrefs[0], known=True)
                for ref in mrefs:
                    for artifact in self._bottle(state, ref, known[path]):
                        yield artifact
            async for _ in results:  # none left: lets the iterator finish
                pass
        coverage.save(ctx.state)
