"""Options for the ``downloads/`` tree (mixed into HomebrewOptions): formula sources, casks.

Kept apart from the planner so the options model imports no planner code.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

__all__ = ["DownloadOptions"]

# cask tokens: lower case, digits, and - . @ + _ (homebrew/cask's own rule is stricter)
_CASK_RE = re.compile(r"^[a-z0-9][a-z0-9@+._-]*$")


def _cask(value: str) -> str:
    token = value.strip().removeprefix("homebrew/cask/").removeprefix("homebrew/homebrew-cask/")
    if not _CASK_RE.match(token):
        raise ValueError(f"{value!r} is not a cask token (e.g. firefox, visual-studio-code)")
    return token


class DownloadOptions(BaseModel):
    """What ``downloads/`` holds: files brew takes from its download cache when offline."""

    sources: bool = Field(
        False, description="Also mirror the source archive and Ruby file of each selected "
        "formula into downloads/ (named as brew's download cache names them), for "
        "--build-from-source and for formulae without a bottle on a tag.",
    )
    casks: list[Annotated[str, AfterValidator(_cask)]] = Field(
        default_factory=list,
        description="Cask whose download (each mirrored tag's variant) goes into downloads/.",
        json_schema_extra={"cli": "--cask", "metavar": "NAME"},
    )
    allow_unchecked_casks: bool = Field(
        False, description="Mirror casks whose API entry says sha256 :no_check (brew checks "
        "nothing; the mirror fetches them again on every run). Refused without this.",
    )
    ruby_source_url: str = Field(
        "https://raw.githubusercontent.com", min_length=1,
        description="Where formulae's Ruby files are fetched from with --sources (brew asks "
        "raw.githubusercontent.com/<tap>/<commit>/<path>; the cache name keeps that URL).",
    )
