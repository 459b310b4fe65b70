"""The API files: fetched first (the plan is read from them), committed last.

They also decide the bottle selection (:mod:`.selection`), which is cached per API file
contents and options (:mod:`.plancache`): a no-op re-run does not parse them again.

``formula.jws.json`` comes first: without ``--tag`` its bottle blocks say which tags
upstream publishes. Then every other file at once: one ``internal/packages.<tag>.jws.json``
per tag (brew 6) and the other brew 4.x/5.x files. All are index artifacts with a higher
``order`` than the manifests, so the engine commits them after every bottle and manifest:
a client never sees a formula whose bottle is not in place yet. Their bytes are upstream's
(they are signed); the engine keeps upstream's ``Last-Modified`` as their mtime.

Each file's signature is checked (:mod:`.signature`) as it is parsed, so a file brew would
refuse fails the run before anything is committed. A run whose API files and key are those
the cached selection was made from (a no-op) skips the parse, and with it the check: those
very bytes were checked, against that key, by the run that made the cache.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

from mirrorkit.api import Artifact, PlanError

from .api import LegacyFormula, PackagesIndex, bottle_tags, parse_formula_list, parse_packages
from .jws import read_jws_payload, read_jws_text
from .plancache import SelectionCache, selection_key
from .planner import HomebrewPlan, fetch_all, in_thread
from .selection import select_bottles
from .signature import ApiKey, load_api_key

__all__ = ["API_ORDER", "ApiPlanner", "internal_path"]

#: index commit order of the API files (manifests use the default, 0)
API_ORDER = 10
FORMULA_FILE = "formula.jws.json"
OTHER_FILES = ("cask.jws.json", "formula_tap_migrations.jws.json",
               "cask_tap_migrations.jws.json")


def internal_path(tag: str) -> str:
    return f"internal/packages.{tag}.jws.json"


#: the key's entry among the files a selection is keyed on (no API file has this name)
KEY_ENTRY = "key:api-public-key"


def _load_formulae(path: Path, where: str, key: ApiKey) -> dict[str, LegacyFormula]:
    return parse_formula_list(read_jws_payload(path, where, key), where)


def _load_packages(path: Path, tag: str, where: str, key: ApiKey) -> PackagesIndex:
    return parse_packages(read_jws_payload(path, where, key), tag, where)


def _load_key(options_key: Path | None) -> ApiKey:
    try:
        return load_api_key(options_key)
    except ValueError as exc:  # the options checked it; it may have changed since
        raise PlanError(f"--api-public-key: {exc}") from None


class ApiPlanner:
    """Fetches the API files, then decides the bottle selection (``state.bottles``)."""

    async def plan(self, state: HomebrewPlan) -> AsyncIterator[Artifact]:
        ctx, opts, base = state.ctx, state.options, state.options.api_url

        def api_file(name: str) -> Artifact:
            return Artifact.index(f"api/{name}", f"{base}/{name}", order=API_ORDER)

        def per_tag_files(tags: list[str]) -> list[Artifact]:
            return ([api_file(n) for n in OTHER_FILES]
                    + [api_file(internal_path(t)) for t in tags])

        key = state.api_key = _load_key(opts.api_public_key)
        where = f"{base}/{FORMULA_FILE}"
        # with the tags given, every API file is asked for at once; without, the formula
        # list comes first, because it says which tags there are
        given = list(dict.fromkeys(opts.tags))
        files = await fetch_all(ctx, [api_file(FORMULA_FILE),
                                      *(per_tag_files(given) if given else [])])
        formula_file = files[f"api/{FORMULA_FILE}"]
        cache = SelectionCache.load(ctx.work_dir)
        shas = {f"api/{FORMULA_FILE}": formula_file.sha256}
        if given:
            state.tags = given
        elif cache.formula_sha256 == shas[f"api/{FORMULA_FILE}"] and cache.tags:
            state.tags = cache.tags
        else:
            state.legacy = await in_thread(partial(_load_formulae, formula_file.path, where,
                                                   key))
            state.tags = bottle_tags(state.legacy.values())
        if not state.tags:
            raise PlanError(f"{where}: no formula has a bottle, and no --tag was given")
        ctx.log.info("homebrew: tags %s", ", ".join(state.tags))

        if not given:
            files |= await fetch_all(ctx, per_tag_files(state.tags))
        state.api_files = files
        for rel, got in files.items():
            shas[rel] = got.sha256
        shas[KEY_ENTRY] = key.fingerprint  # another key: every file is checked again
        cache_key = selection_key(shas, opts, state.tags)
        if cache.key == cache_key:  # same API files, key and options: same selection
            state.bottles = cache.bottles
            return
        for name in OTHER_FILES:  # served as they are, but a broken one is not published
            await in_thread(partial(read_jws_text, files[f"api/{name}"].path, f"{base}/{name}",
                                    key))
        if not state.legacy:
            state.legacy = await in_thread(partial(_load_formulae, formula_file.path, where,
                                                   key))
        for tag in state.tags:  # one at a time: a parsed payload is large, its summary small
            rel = f"api/{internal_path(tag)}"
            state.packages[tag] = await in_thread(partial(
                _load_packages, files[rel].path, tag, f"{base}/{internal_path(tag)}", key))
        state.bottles = await in_thread(partial(
            select_bottles, state.packages, state.legacy, opts.formulae, deps=opts.deps))
        if not ctx.dry_run:
            SelectionCache(shas[f"api/{FORMULA_FILE}"], state.tags, cache_key,
                           state.bottles).save(ctx.work_dir)
        return
        yield  # an async generator that only fetches
