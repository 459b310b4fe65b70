"""Options of ``mirrorkit run conda`` (the same keys work in a ``[[mirrors]]`` TOML entry)."""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    model_validator,
)

__all__ = ["CondaOptions"]

_HTTP_URL = TypeAdapter(HttpUrl)
# linux-64, osx-arm64, win-64, linux-aarch64, emscripten-wasm32, zos-z, noarch
_SUBDIR_RE = re.compile(r"^(noarch|[a-z0-9]+-[a-z0-9_]+)$")


def _url(value: str) -> str:
    """An http(s) URL without the trailing slash (files are ``<channel>/<subdir>/<name>``)."""
    return str(_HTTP_URL.validate_python(value)).rstrip("/")


def _subdir(value: str) -> str:
    if not _SUBDIR_RE.match(value):
        raise ValueError(f"{value!r} is not a conda subdir (e.g. linux-64, osx-arm64, noarch)")
    return value


def _spec(value: str) -> str:
    """A match spec, checked by the same parser that later selects with it."""
    from .closure import parse_spec  # needs py-rattler, which only selective mirrors need

    parse_spec(value)
    return value.strip()


class CondaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_url: Annotated[str, AfterValidator(_url)] = Field(
        description="Channel root URL, e.g. https://conda.anaconda.org/conda-forge.",
    )
    subdirs: list[Annotated[str, AfterValidator(_subdir)]] = Field(
        min_length=1,
        description="Channel subdir to mirror, e.g. linux-64 (noarch is always mirrored too).",
        json_schema_extra={"cli": "--subdir", "metavar": "SUBDIR"},
    )
    packages: list[Annotated[str, AfterValidator(_spec)]] = Field(
        default_factory=list,
        description="Match spec of the packages to mirror, e.g. 'numpy >=2' "
        "(default: every package of the subdirs, repodata kept byte-identical).",
        json_schema_extra={"cli": "--package", "metavar": "SPEC"},
    )
    with_deps: bool = Field(
        False,
        description="Add the dependency closure of the --package specs: every record, in the "
        "listed subdirs and noarch, that satisfies a 'depends' entry of a selected record.",
    )

    @model_validator(mode="after")
    def _deps_need_packages(self) -> Self:
        if self.with_deps and not self.packages:
            raise ValueError("with_deps needs at least one package spec (--package)")
        return self

    @property
    def all_subdirs(self) -> list[str]:
        """The listed subdirs plus noarch, which every platform's environment also reads."""
        out = list(dict.fromkeys(self.subdirs))
        if "noarch" not in out:
            out.append("noarch")
        return out
