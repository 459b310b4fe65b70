"""When an apt re-run may keep the previous plan, and what it reports when it does.

The core keeps the previous snapshot when every file and response the plan read (the
Release files of each suite) and the mirror's options are what the last committed run had
(``ctx.keep_previous_plan``). One input of an apt plan does not go through the core: the
mirror list is a local file (its path is an option, its lines are not), and a line without
``arch=`` takes this machine's architecture. Adding a component to a ``deb`` line, a
``clean`` line or ``set defaultarch`` changes the plan without changing one byte upstream.
So the selection the list resolves to is kept in the plugin state beside the snapshot, and
the previous plan is offered to the core only when it is the same.

A kept plan parses no ``Packages`` file, so the size estimate of the last plan is kept too,
and noted again (``mirrorkit plan --json`` reports it either way).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mirrorkit.api import PlanContext

from .resolve import Resolved

__all__ = ["load_estimate", "same_selection", "save_estimate"]

_SELECTION = "apt-selection.json"
_ESTIMATE = "apt-estimate.json"
_VERSION = 1


def _selection_digest(resolved: Resolved) -> str:
    """What the list resolved to, credentials left out, as a digest (nothing of a URL is
    stored: a path can carry a token as well as a user name can)."""
    suites = [[s.repo.url, s.repo.prefix, s.repo.clean, s.name, s.binary_components,
               s.source_components, s.arches] for s in resolved.suites]
    text = json.dumps({"suites": suites, "contents": resolved.contents}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


async def same_selection(ctx: PlanContext, resolved: Resolved) -> bool:
    """Whether the last committed run planned the same selection; records this run's
    when it is another."""
    digest = _selection_digest(resolved)
    saved = await ctx.state.read_json(_SELECTION, version=_VERSION)
    if saved == digest:
        return True  # the saved version goes on as it is
    ctx.state.write_json(_SELECTION, digest, version=_VERSION)
    return False


async def save_estimate(ctx: PlanContext, estimate: dict[str, Any]) -> None:
    if await load_estimate(ctx) != estimate:  # else the saved version goes on as it is
        ctx.state.write_json(_ESTIMATE, estimate, version=_VERSION)


async def load_estimate(ctx: PlanContext) -> dict[str, Any]:
    saved = await ctx.state.read_json(_ESTIMATE, version=_VERSION)
    return saved if isinstance(saved, dict) else {}
