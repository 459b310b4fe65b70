"""Options of the ``git`` registry: which repositories go where in the mirror.

One mirror holds one directory tree with one manifest, so several repositories served from
one tree (``brew.git``, ``taps/...``) are one mirror with a list of repositories; separate
mirrors (separate ``dest``) are for repositories that are published separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mirrorkit.api import UnsafePathError, validate_relpath

__all__ = ["GitOptions", "RepoSpec", "check_layout", "normalise_path"]


def normalise_path(value: str, *, allow_root: bool) -> str:
    """A repository's place in the mirror: "" for the root, else a safe relative path."""
    value = value.strip().strip("/")
    if not value:
        if allow_root:
            return ""
        raise ValueError("a repository in 'repos' needs a non-empty path")
    try:
        return validate_relpath(value)
    except UnsafePathError as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class RepoSpec:
    """One repository to mirror: fetched from ``url``, published under ``path``."""

    url: str
    path: str


class RepoEntry(BaseModel):
    """A ``repos`` item: ``{url = "...", path = "..."}`` in TOML, ``PATH=URL`` on the CLI."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1)
    path: str

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if isinstance(data, str):
            path, sep, url = data.partition("=")
            if not sep or not url:
                raise ValueError("expected PATH=URL")
            return {"path": path, "url": url}
        return data

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return normalise_path(value, allow_root=False)


def check_layout(repos: list[RepoSpec]) -> None:
    """Refuse two repositories at one path, or one nested inside another."""
    seen = sorted(repos, key=lambda r: r.path)
    for i, a in enumerate(seen):
        for b in seen[i + 1:]:
            if a.path == b.path:
                raise ValueError(f"two repositories are mirrored at {a.path or '<root>'!r}")
            if a.path == "" or b.path.startswith(a.path + "/"):
                raise ValueError(
                    f"repository path {b.path!r} is inside repository {a.path or '<root>'!r}"
                )


class GitOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        None, description="Repository to mirror: any URL git can fetch (https, ssh, git, file)."
    )
    path: str = Field(
        "", description="Where --url goes inside the mirror (default: the mirror root).",
        json_schema_extra={"metavar": "PATH"},
    )
    repos: list[RepoEntry] = Field(
        default_factory=list, validate_default=True,
        description="More repositories in the same mirror, each PATH=URL "
                    "(TOML: {url = ..., path = ...}).",
        json_schema_extra={"cli": "--repo", "metavar": "PATH=URL"},
    )
    max_packs: int = Field(
        16, ge=2, le=10000,
        description="Roll small packs together (git repack --geometric) beyond this many packs.",
    )
    full_repack: bool = Field(
        False, description="Rewrite each repository into one pack this run (drops "
                           "unreachable objects; the whole pack is published again).",
    )
    lfs: bool = Field(
        False, description="Mirror the Git LFS objects the branches and tags point to "
                           "(fetched through upstream's LFS batch API).",
    )
    lfs_history: bool = Field(
        False, description="With --lfs: every LFS object of the whole history, not only "
                           "of the branch and tag tips.",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return normalise_path(value, allow_root=True)

    @field_validator("repos")
    @classmethod
    def _layout(cls, repos: list[RepoEntry], info: ValidationInfo) -> list[RepoEntry]:
        # A field validator (not a model one) so that errors name a key/flag.
        url, path = info.data.get("url"), info.data.get("path", "")
        if url is None and not repos:
            raise ValueError("give a repository: url (--url URL) or repos (--repo PATH=URL)")
        if url is None and path:
            raise ValueError("path (--path) is only meaningful with url (--url)")
        specs = [RepoSpec(url, path)] if url else []
        check_layout(specs + [RepoSpec(r.url, r.path) for r in repos])
        return repos

    def repo_specs(self) -> list[RepoSpec]:
        specs = [RepoSpec(self.url, self.path)] if self.url else []
        specs += [RepoSpec(r.url, r.path) for r in self.repos]
        return specs
