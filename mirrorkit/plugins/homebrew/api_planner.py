"""The API files: fetched first (the plan is read from them), committed last.

``formula.jws.json`` comes first: without ``--tag`` its bottle blocks say which tags
upstream publishes. Then every other file at once: one ``internal/packages.<tag>.jws.json``
per tag (brew 6) and the other brew 4.x/5.x files. All are index artifacts with a higher
``order`` than the manifests, so the engine commits them after every bottle and manifest:
a client never sees a formula whose bottle is not in place yet. Their bytes are upstream's
(they are signed); the engine keeps upstream's ``Last-Modified`` as their mtime.

Fetching (:meth:`ApiPlanner.fetch`) and reading (:meth:`ApiPlanner.select`) are two steps,
so that between them the core can find every input unchanged and keep the previous plan
(``ctx.keep_previous_plan``, see :mod:`.registry`) without parsing about 130 MB of JSON.
The tags a ``formula.jws.json`` names are remembered per its sha256 (``ctx.state``), so a
re-run without ``--tag`` knows which per-tag files to fetch without reading it.

Each file's signature is checked (:mod:`.signature`) as it is read, so a file brew would
refuse fails the run before anything is committed. Which files (by sha256) were last
checked, against which key, and read with which options is remembered too
(:func:`already_checked`): a run whose files, key and options are those is the only one
that plans its git part before reading them, since nothing it reads can fail.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from mirrorkit.api import Artifact, PlanError

from .api import LegacyFormula, PackagesIndex, bottle_tags, parse_formula_list, parse_packages
from .jws import read_jws_payload, read_jws_text
from .planner import HomebrewPlan, fetch_all, in_thread
from .selection import select_bottles
from .signature import ApiKey, load_api_key
from .tags import is_tag_name

__all__ = ["API_ORDER", "ApiPlanner", "already_checked", "internal_path"]

#: index commit order of the API files (manifests use the default, 0)
API_ORDER = 10
FORMULA_FILE = "formula.jws.json"
OTHER_FILES = ("cask.jws.json", "formula_tap_migrations.jws.json",
               "cask_tap_migrations.jws.json")

#: state: the tags of a formula.jws.json, by its sha256
TAGS_STATE = "formula-tags.json"
#: state: the API files last checked and read, with the key and the options
CHECKED_STATE = "api-checked.json"
STATE_VERSION = 1


def internal_path(tag: str) -> str:
    return f"internal/packages.{tag}.jws.json"


def _load_formulae(path: Path, where: str, key: ApiKey) -> dict[str, LegacyFormula]:
    return parse_formula_list(read_jws_payload(path, where, key), where)


def _load_packages(path: Path, tag: str, where: str, key: ApiKey) -> PackagesIndex:
    return parse_packages(read_jws_payload(path, where, key), tag, where)


def _load_key(options_key: Path | None) -> ApiKey:
    try:
        return load_api_key(options_key)
    except ValueError as exc:  # the options checked it; it may have changed since
        raise PlanError(f"--api-public-key: {exc}") from None


#: the options that decide what is read from the API files, and what is refused
SELECTION_OPTIONS = frozenset({"tags", "formulae", "deps", "sources", "casks",
                               "allow_unchecked_casks"})


def _checked_with(state: HomebrewPlan) -> dict[str, Any]:
    """What a check and a selection depend on: the files (by the sha256 the core gives),
    the key (its fingerprint, not its file's name) and the selection options (none of
    them holds a credential)."""
    assert state.api_key is not None
    return {"files": {rel: got.sha256 for rel, got in sorted(state.api_files.items())},
            "key": state.api_key.fingerprint,
            "selection": state.options.model_dump(mode="json", include=set(SELECTION_OPTIONS))}


async def already_checked(state: HomebrewPlan) -> bool:
    """True when the API files fetched are the very bytes a committed run checked against
    this key and read with these options: reading them again cannot fail (nor select
    anything else)."""
    saved = await state.ctx.state.read_json(CHECKED_STATE, version=STATE_VERSION)
    return bool(saved == _checked_with(state))


class ApiPlanner:
    """Fetches the API files (:meth:`fetch`), then checks and reads them (:meth:`select`)."""

    async def fetch(self, state: HomebrewPlan) -> None:
        """Every API file of the selected tags, fetched (``state.api_files``, ``state.tags``)."""
        ctx, opts, base = state.ctx, state.options, state.options.api_url

        def api_file(name: str) -> Artifact:
            return Artifact.index(f"api/{name}", f"{base}/{name}", order=API_ORDER)

        def per_tag_files(tags: list[str]) -> list[Artifact]:
            return ([api_file(n) for n in OTHER_FILES]
                    + [api_file(internal_path(t)) for t in tags])

        state.api_key = _load_key(opts.api_public_key)
        # with the tags given, every API file is asked for at once; without, the formula
        # list comes first, because it says which tags there are
        given = list(dict.fromkeys(opts.tags))
        files = await fetch_all(ctx, [api_file(FORMULA_FILE),
                                      *(per_tag_files(given) if given else [])])
        state.tags = given or await self._tags(state, files[f"api/{FORMULA_FILE}"].path,
                                               files[f"api/{FORMULA_FILE}"].sha256)
        if not state.tags:
            raise PlanError(f"{base}/{FORMULA_FILE}: no formula has a bottle, and no --tag "
                            "was given")
        ctx.log.info("homebrew: tags %s", ", ".join(state.tags))
        if not given:
            files |= await fetch_all(ctx, per_tag_files(state.tags))
        state.api_files = files

    @staticmethod
    async def _tags(state: HomebrewPlan, formula: Path, sha256: str) -> list[str]:
        """The tags ``formula.jws.json`` has bottles for: remembered for these bytes, or
        read (its signature checked) and remembered."""
        ctx = state.ctx
        known = await ctx.state.read_json(TAGS_STATE, version=STATE_VERSION)
        if (isinstance(known, dict) and known.get("formula_sha256") == sha256
                and isinstance(known.get("tags"), list)
                and all(isinstance(t, str) and is_tag_name(t) for t in known["tags"])):
            return list(known["tags"])
        assert state.api_key is not None
        where = f"{state.options.api_url}/{FORMULA_FILE}"
        state.legacy = await in_thread(partial(_load_formulae, formula, where, state.api_key))
        tags = bottle_tags(state.legacy.values())
        ctx.state.write_json(TAGS_STATE, {"formula_sha256": sha256, "tags": tags},
                             version=STATE_VERSION)
        return tags

    async def select(self, state: HomebrewPlan) -> None:
        """Check every API file's signature and read the bottle selection (``state.bottles``)."""
        opts, base, files = state.options, state.options.api_url, state.api_files
        key = state.api_key
        assert key is not None
        for name in OTHER_FILES:  # served as they are, but a broken one is not published
            await in_thread(partial(read_jws_text, files[f"api/{name}"].path, f"{base}/{name}",
                                    key))
        if not state.legacy:
            state.legacy = await in_thread(partial(
                _load_formulae, files[f"api/{FORMULA_FILE}"].path, f"{base}/{FORMULA_FILE}",
                key))
        for tag in state.tags:  # one at a time: a parsed payload is large, its summary small
            rel = f"api/{internal_path(tag)}"
            state.packages[tag] = await in_thread(partial(
                _load_packages, files[rel].path, tag, f"{base}/{internal_path(tag)}", key))
        state.bottles = await in_thread(partial(
            select_bottles, state.packages, state.legacy, opts.formulae, deps=opts.deps))
        state.ctx.state.write_json(CHECKED_STATE, _checked_with(state), version=STATE_VERSION)
