"""Options of ``mirrorkit run opam`` (the same keys work in a ``[[mirrors]]`` TOML entry)."""

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

__all__ = ["OpamOptions", "split_package"]

_HTTP_URL = TypeAdapter(HttpUrl)
_NAME = re.compile(r"[A-Za-z0-9_+-]+")
_VERSION = re.compile(r"[A-Za-z0-9_+.~-]+")


def _url(value: str) -> str:
    """An http(s) URL without the trailing slash (files are ``<repo>/index.tar.gz``...)."""
    url = str(_HTTP_URL.validate_python(value)).rstrip("/")
    if "@" in url.partition("://")[2].partition("/")[0]:
        raise ValueError("credentials in the URL are not supported (they would be stored "
                         "in the mirror's manifest and logs)")
    return url


def split_package(spec: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME.VERSION`` (opam's own spelling: names hold no dot)."""
    name, dot, version = spec.partition(".")
    return name, (version if dot else None)


def _package(value: str) -> str:
    value = value.strip()
    name, version = split_package(value)
    if not _NAME.fullmatch(name) or (version is not None and not _VERSION.fullmatch(version)):
        raise ValueError(f"{value!r} is not an opam package name or NAME.VERSION "
                         "(e.g. dune, dune.3.16.0)")
    return value


class OpamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo_url: Annotated[str, AfterValidator(_url)] = Field(
        description="The repository's URL, as opam is given it, e.g. https://opam.ocaml.org.",
    )
    packages: list[Annotated[str, AfterValidator(_package)]] = Field(
        default_factory=list,
        description="A package to mirror, NAME (every version) or NAME.VERSION (default: "
        "the whole repository, its index byte-identical).",
        json_schema_extra={"cli": "--package", "metavar": "NAME[.VERSION]"},
    )
    with_deps: bool = Field(
        False,
        description="Add the dependency closure of the --package versions: every version "
        "that satisfies a 'depends' entry of a selected version (filters count as true).",
    )
    with_depopts: bool = Field(
        False, description="With --with-deps, follow 'depopts' (optional dependencies) too.",
    )
    prune_cache: bool = Field(
        False,
        description="Remove cache files no package of the index lists any more (by default "
        "they are kept, as opam.ocaml.org keeps them: existing switches may still need them).",
    )

    @model_validator(mode="after")
    def _deps_need_packages(self) -> Self:
        if self.with_deps and not self.packages:
            raise ValueError("with_deps needs at least one package (--package)")
        if self.with_depopts and not self.with_deps:
            raise ValueError("with_depopts needs with_deps (--with-deps)")
        return self
