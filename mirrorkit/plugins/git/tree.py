"""The ``git-tree`` registry: the files of one ref, through a hosting API instead of git.

For repositories that can be reached only through an HTTP API (no git transport allowed
through the proxy), the tree of one commit is listed with GitHub's git trees API and each
file is downloaded from its raw URL. Every tree entry carries the file's git blob SHA-1
(``sha1("blob <size>\\0" + content)``): the core verifies each download against it and, since
the manifest records it, skips every file whose blob SHA-1 has not changed.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mirrorkit.api import Artifact, Digest, FetchError, PlanContext, PlanError, UnsafePathError

from .options import normalise_path

__all__ = ["GitTreeOptions", "GitTreeRegistry"]

_FILE_MODES = {"100644", "100755", "100664"}


class GitTreeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="Repository as OWNER/NAME.", json_schema_extra={"metavar": "OWNER/NAME"},
    )
    ref: str | None = Field(
        None, description="Branch, tag or commit to mirror. [default: the default branch]"
    )
    api_url: str = Field("https://api.github.com", description="Base URL of the hosting API.")
    raw_url: str = Field(
        "https://raw.githubusercontent.com/{owner}/{repo}/{commit}/{path}",
        description="Download URL of one file; {owner}, {repo}, {commit} and {path} are "
                    "filled in.",
    )
    path: str = Field("", description="Where the files go inside the mirror (default: root).")
    include: list[str] = Field(
        default_factory=list, description="Mirror only files under this directory.",
        json_schema_extra={"cli": "--include", "metavar": "DIR"},
    )
    token_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable holding an API token (never logged).",
        json_schema_extra={"metavar": "VAR"},
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return normalise_path(value, allow_root=True)

    @field_validator("raw_url")
    @classmethod
    def _raw(cls, value: str) -> str:
        if "{path}" not in value:
            raise ValueError("raw_url must contain {path}")
        try:
            value.format(owner="o", repo="r", commit="c", path="p")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"raw_url has an unknown placeholder ({exc})") from None
        return value


class _Api:
    """The few hosting-API calls the plan needs, through the core's retrying client."""

    def __init__(self, opts: GitTreeOptions, ctx: PlanContext, headers: Mapping[str, str]):
        self.base = opts.api_url.rstrip("/") + "/repos/" + opts.repo
        self.ctx = ctx
        self.headers = {"Accept": "application/vnd.github+json", **headers}

    async def get(self, suffix: str) -> Any:
        url = self.base + suffix
        try:
            resp = await self.ctx.get(url, headers=self.headers)
        except FetchError as exc:
            raise PlanError(f"hosting API: {exc.reason} ({url})") from None
        try:
            return json.loads(resp.content)
        except ValueError:
            raise PlanError(f"hosting API: {url} did not answer JSON") from None


def _auth_headers(opts: GitTreeOptions) -> dict[str, str]:
    if opts.token_env is None:
        return {}
    token = os.environ.get(opts.token_env)
    if not token:
        raise PlanError(f"token_env: environment variable {opts.token_env} is not set")
    return {"Authorization": f"Bearer {token}"}


def _field(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            raise PlanError(f"hosting API: answer lacks {'.'.join(keys)}")
        data = data[key]
    return data


def _tree(listing: Any) -> list[dict[str, Any]]:
    """The ``tree`` list of a listing, every entry an object (anything else is refused)."""
    entries = _field(listing, "tree")
    if not isinstance(entries, list):
        raise PlanError(f"hosting API: 'tree' is a {type(entries).__name__}, not a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise PlanError(f"hosting API: tree entry {i} is a {type(entry).__name__}, "
                            "not an object")
    return entries


async def _entries(api: _Api, tree_sha: str) -> AsyncIterator[dict[str, Any]]:
    """Every entry of the tree, recursively; walks subtrees when the listing is truncated."""
    listing = await api.get(f"/git/trees/{tree_sha}?recursive=1")
    entries = _tree(listing)
    if not listing.get("truncated"):
        for entry in entries:
            yield entry
        return
    api.ctx.log.info("tree listing is truncated; listing it one directory at a time")
    pending = [("", tree_sha)]
    while pending:
        base, sha = pending.pop()
        for entry in _tree(await api.get(f"/git/trees/{sha}")):
            entry = {**entry, "path": f"{base}{entry.get('path')}"}
            if entry.get("type") == "tree":
                pending.append((entry["path"] + "/", str(entry.get("sha"))))
            yield entry


class GitTreeRegistry:
    """Mirror the files of one branch, tag or commit through a GitHub-style hosting API.

    Files whose git blob SHA-1 did not change since the last run are not downloaded again;
    every download is checked against its blob SHA-1. Symbolic links and submodules are
    skipped. Rate limits (Retry-After, X-RateLimit-Reset) are waited out by the core.
    """

    name: ClassVar[str] = "git-tree"
    summary: ClassVar[str] = "Files of one git ref through a hosting API (GitHub trees API)"
    Options: ClassVar[type[BaseModel]] = GitTreeOptions

    async def plan(self, options: GitTreeOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        auth = _auth_headers(options)
        api = _Api(options, ctx, auth)
        ref = options.ref
        if ref is None:
            ref = str(_field(await api.get(""), "default_branch"))
        commit = await api.get(f"/commits/{quote(ref, safe='')}")
        commit_sha = str(_field(commit, "sha"))
        tree_sha = str(_field(commit, "commit", "tree", "sha"))
        ctx.log.info("git-tree %s: %s is commit %s", options.repo, ref, commit_sha)
        owner, repo = options.repo.split("/", 1)
        includes = [normalise_path(p, allow_root=False) + "/" for p in options.include]
        skipped = 0
        async for entry in _entries(api, tree_sha):
            kind, mode, path = entry.get("type"), str(entry.get("mode")), entry.get("path")
            if kind == "commit":
                skipped += 1  # a submodule: another repository, not files of this one
                continue
            if kind != "blob" or not isinstance(path, str):
                continue
            if includes and not any(path.startswith(p) for p in includes):
                continue
            if mode not in _FILE_MODES:
                skipped += 1  # symbolic links (120000): no portable way to publish them
                continue
            url = options.raw_url.format(owner=owner, repo=repo, commit=commit_sha,
                                         path=quote(path))
            target = f"{options.path}/{path}" if options.path else path
            try:
                yield Artifact.blob(target, url, size=int(entry["size"]), headers=auth,
                                    digest=Digest("git-blob-sha1", str(entry["sha"])))
            except UnsafePathError as exc:  # git itself refuses such names: a hostile listing
                raise PlanError(f"hosting API: tree entry {path[:200]!r} is unsafe ({exc})"
                                ) from None
            except (KeyError, TypeError, ValueError) as exc:
                raise PlanError(f"hosting API: tree entry {path[:200]!r} is malformed "
                                f"({exc})") from None
        if skipped:
            ctx.log.info("git-tree %s: skipped %d symbolic links and submodules", options.repo,
                         skipped)
