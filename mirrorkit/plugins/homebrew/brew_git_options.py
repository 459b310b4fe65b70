"""Options for mirroring brew, taps and portable-ruby (mixed into HomebrewOptions).

Kept apart from :mod:`.brew_git` so the options model imports no planner code.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

__all__ = ["BrewGitOptions", "tap_path"]

_TAP_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)/(?:homebrew-)?([A-Za-z0-9][A-Za-z0-9_.+-]*)$")


def _tap(value: str) -> str:
    m = _TAP_RE.match(value.strip())
    if not m:
        raise ValueError(f"{value!r} is not a tap name (USER/REPO, e.g. acme/tools)")
    return f"{m.group(1)}/{m.group(2)}".lower()


def tap_path(tap: str) -> str:
    """``acme/tools`` -> ``git/taps/acme/homebrew-tools.git`` (the mirror path)."""
    user, repo = tap.split("/", 1)
    return f"git/taps/{user}/homebrew-{repo}.git"


class BrewGitOptions(BaseModel):
    """The git-related options of ``mirrorkit run homebrew`` (mixed into HomebrewOptions)."""

    brew_git: bool = Field(
        False, description="Also mirror brew's own git repository (every branch and tag) at "
        "git/brew.git, and the portable-ruby bottles its newest stable tag needs.",
    )
    brew_git_url: str = Field(
        "https://github.com/Homebrew/brew", min_length=1,
        description="Where brew's git repository is fetched from.",
    )
    taps: list[Annotated[str, AfterValidator(_tap)]] = Field(
        default_factory=list,
        description="Tap to mirror as a git repository at git/taps/USER/homebrew-REPO.git.",
        json_schema_extra={"cli": "--tap", "metavar": "USER/REPO"},
    )
    tap_base_url: str = Field(
        "https://github.com", min_length=1,
        description="Taps are fetched from <tap_base_url>/USER/homebrew-REPO.",
    )
