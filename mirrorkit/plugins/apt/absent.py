"""Index files a Release lists but the server does not have, remembered between runs.

Debian's archive lists uncompressed ``Packages`` files it does not serve. Learning that
costs one HEAD request per file; remembering the answer (keyed by the SHA256 the Release
gives, so a new Release asks again) keeps a re-run that plans down to the requests for
what changed. The list lives in the plugin state (``ctx.state``), saved with the snapshot,
so it follows the mirror into a bucket and is never ahead of or behind it.
"""

from __future__ import annotations

from mirrorkit.api import PlanContext

__all__ = ["load_absent", "save_absent"]

_NAME = "apt-absent.json"
_VERSION = 1


async def load_absent(ctx: PlanContext) -> dict[str, str]:
    """``{mirror path: SHA256 the Release gave}`` of the last committed run."""
    data = await ctx.state.read_json(_NAME, version=_VERSION)
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def save_absent(ctx: PlanContext, absent: dict[str, str], before: dict[str, str]) -> None:
    """Save this run's list (``before``: the saved one, which goes on when it is the same)."""
    if absent != before:
        ctx.state.write_json(_NAME, dict(sorted(absent.items())), version=_VERSION)
