"""Options of ``mirrorkit run homebrew`` (the same keys work in a ``[[mirrors]]`` TOML entry).

Later capabilities (git mirrors of brew and taps, portable-ruby, the download cache tree)
add fields here (or in a mixin) and a sub-planner in :mod:`.planner`; nothing else needs to
change.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, HttpUrl, TypeAdapter

from .brew_git_options import BrewGitOptions
from .download_options import DownloadOptions
from .tags import KNOWN_TAGS, MACOS_VERSIONS, is_tag_name

__all__ = ["HomebrewOptions"]

_FORMULA_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@+._-]*$")


_HTTP_URL = TypeAdapter(HttpUrl)


def _url(value: str) -> str:
    """An http(s) URL, without the trailing slash (brew joins ``<domain>/<file>``)."""
    return str(_HTTP_URL.validate_python(value)).rstrip("/")


def _tag(value: str) -> str:
    """A bottle tag brew knows: refused here, before any request, not after a full plan."""
    system = value.removeprefix("arm64_").removeprefix("x86_64_")
    if value == "all" or not is_tag_name(value) or (
            value not in KNOWN_TAGS and system not in (*MACOS_VERSIONS, "linux")):
        raise ValueError(f"{value!r} is not a bottle tag (e.g. {', '.join(KNOWN_TAGS[:3])}; "
                         f"known: {', '.join(KNOWN_TAGS)})")
    return value


def _formula(value: str) -> str:
    if not _FORMULA_RE.match(value):
        raise ValueError(f"{value!r} is not a formula name")
    return value


def _public_key(value: Path) -> Path:
    """A readable PEM RSA public key: refused now, not after the API files are fetched."""
    from .signature import load_api_key

    _ = load_api_key(value).key  # parsed now: its ValueError says what is wrong
    return value


Url = Annotated[str, AfterValidator(_url)]


class HomebrewOptions(BrewGitOptions, DownloadOptions):
    model_config = ConfigDict(extra="forbid")

    api_url: Url = Field(
        "https://formulae.brew.sh/api",
        description="Base URL of the Homebrew JSON API (what HOMEBREW_API_DOMAIN points to).",
    )
    registry_url: Url = Field(
        "https://ghcr.io/v2/homebrew/core",
        description="OCI repository prefix holding the bottles and their manifests.",
    )
    tags: list[Annotated[str, AfterValidator(_tag)]] = Field(
        default_factory=list,
        description="Bottle tag to mirror, e.g. arm64_sequoia or x86_64_linux "
        "(default: every tag upstream has bottles for).",
        json_schema_extra={"cli": "--tag", "metavar": "TAG"},
    )
    formulae: list[Annotated[str, AfterValidator(_formula)]] = Field(
        default_factory=list,
        description="Formula to mirror, with its runtime dependencies on each tag "
        "(default: every formula).",
        json_schema_extra={"cli": "--formula", "metavar": "NAME"},
    )
    deps: bool = Field(
        True, description="Add the runtime dependencies of the --formula names (per tag)."
    )
    api_public_key: Annotated[Path, AfterValidator(_public_key)] | None = Field(
        None,
        description="PEM public key the API files' signatures must verify against "
        "(default: Homebrew's own homebrew-1 key, which brew itself checks against).",
        json_schema_extra={"metavar": "FILE"},
    )
    flat_bottles: bool = Field(
        False,
        description="Also write the flat HOMEBREW_BOTTLE_DOMAIN layout "
        "(<name>-<version>.<tag>.bottle.tar.gz, hard links to the blobs).",
    )
