"""The ``git-tree`` registry: the files of one ref, through a hosting API instead of git.

For repositories that can be reached only through an HTTP API (no git transport allowed
through the proxy), the tree of one commit is listed with GitHub's git trees API and each
file is downloaded from its raw URL. Every tree entry carries the file's git blob SHA-1
(``sha1("blob <size>\\0" + content)``): the core verifies each download against it and, since
the manifest records it, skips every file whose blob SHA-1 has not changed.

When the API fails (a rate limit that resets beyond ``rate_limit_patience``, 5xx after the
retries, no trees endpoint) and git can reach the repository, the same tree is taken from a
shallow clone instead (:mod:`.treeclone`), and the run report says so.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit

import anyio
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mirrorkit.api import Artifact, Digest, FetchError, PlanContext, PlanError, UnsafePathError

from .gitcmd import GitError, redact
from .options import normalise_path

if TYPE_CHECKING:
    from .treeclone import ClonedTree, TreeEntry

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
    clone_url: str | None = Field(
        None, description="Where git clones the repository from when the API fails; {owner} "
        "and {repo} are filled in. [default: https://github.com/{owner}/{repo}.git for "
        "api.github.com, https://HOST/{owner}/{repo}.git for https://HOST/api/v3]",
        json_schema_extra={"metavar": "URL"},
    )
    fallback: bool = Field(
        True, description="Take the tree from a shallow git clone when the API fails.",
    )
    rate_limit_patience: float = Field(
        60.0, ge=0, description="Longest wait, in seconds, for an API rate limit to reset; a "
        "later reset falls back to a clone at once.",
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

    @field_validator("clone_url")
    @classmethod
    def _clone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(owner="o", repo="r")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"clone_url has an unknown placeholder ({exc})") from None
        return value

    def clone_from(self) -> str | None:
        """The git URL of the repository, for the fallback (None: not known)."""
        owner, repo = self.repo.split("/", 1)
        template = self.clone_url
        if template is None:
            api = urlsplit(self.api_url.rstrip("/"))
            if api.netloc == "api.github.com":
                template = "https://github.com/{owner}/{repo}.git"
            elif api.path.endswith("/api/v3"):
                template = f"{api.scheme}://{api.netloc}{api.path[:-7]}/{{owner}}/{{repo}}.git"
            else:
                return None
        return template.format(owner=owner, repo=repo)


class _ApiFailed(PlanError):
    """The hosting API did not answer (after the core's retries): a reason to fall back."""


class _Api:
    """The few hosting-API calls the plan needs, through the core's retrying client."""

    def __init__(self, opts: GitTreeOptions, ctx: PlanContext, headers: Mapping[str, str],
                 patience: float | None):
        self.base = opts.api_url.rstrip("/") + "/repos/" + opts.repo
        self.ctx = ctx
        self.headers = {"Accept": "application/vnd.github+json", **headers}
        self.patience = patience

    async def get(self, suffix: str) -> Any:
        url = self.base + suffix
        try:
            resp = await self.ctx.get(url, headers=self.headers, max_retry_after=self.patience)
        except FetchError as exc:
            raise _ApiFailed(f"hosting API: {exc.reason} ({url})") from None
        try:
            return json.loads(resp.content)
        except ValueError:
            raise PlanError(f"hosting API: {url} did not answer JSON") from None


def _token(opts: GitTreeOptions) -> str | None:
    if opts.token_env is None:
        return None
    token = os.environ.get(opts.token_env)
    if not token:
        raise PlanError(f"token_env: environment variable {opts.token_env} is not set")
    return token


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
        token = _token(options)
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        clone_from = options.clone_from() if options.fallback else None
        scratch = ctx.work_dir / "git-tree"
        if not ctx.dry_run:
            shutil.rmtree(scratch, ignore_errors=True)  # files a previous fallback extracted
        api = _Api(options, ctx, auth, options.rate_limit_patience if clone_from else None)
        cloned: ClonedTree | None = None
        try:
            commit_sha, entries = await _from_api(api, options)
        except _ApiFailed as exc:
            if clone_from is None:
                raise
            ctx.log.warning("git-tree %s: %s; fell back to a shallow git clone of %s",
                            options.repo, exc, redact(clone_from))
            ctx.note("git-tree", {"fell_back": True, "reason": str(exc),
                                  "clone_url": redact(clone_from)})
            from .treeclone import clone_tree  # only when the API failed: rare

            try:
                cloned = await clone_tree(clone_from, options.ref, scratch, token)
            except GitError as git_exc:
                raise PlanError(f"{exc}; the git fallback failed too: {git_exc}") from None
            commit_sha, entries = cloned.commit, [_as_api_entry(e) for e in cloned.entries]
        ctx.log.info("git-tree %s: %s is commit %s", options.repo,
                     options.ref or "the default branch", commit_sha)
        owner, repo = options.repo.split("/", 1)
        includes = [normalise_path(p, allow_root=False) + "/" for p in options.include]
        planned: list[Artifact] = []
        skipped = 0
        for entry in entries:
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
                planned.append(Artifact.blob(target, url, size=int(entry["size"]), headers=auth,
                                             digest=Digest("git-blob-sha1", str(entry["sha"]))))
            except UnsafePathError as exc:  # git itself refuses such names: a hostile listing
                raise PlanError(f"hosting API: tree entry {path[:200]!r} is unsafe ({exc})"
                                ) from None
            except (KeyError, TypeError, ValueError) as exc:
                raise PlanError(f"hosting API: tree entry {path[:200]!r} is malformed "
                                f"({exc})") from None
        if skipped:
            ctx.log.info("git-tree %s: skipped %d symbolic links and submodules", options.repo,
                         skipped)
        if cloned is not None:
            planned = await _from_clone(planned, cloned, scratch / "files", ctx)
        for art in planned:
            yield art


async def _from_api(api: _Api, options: GitTreeOptions) -> tuple[str, list[dict[str, Any]]]:
    """The commit the ref names and every entry of its tree, as the API lists them."""
    ref = options.ref
    if ref is None:
        ref = str(_field(await api.get(""), "default_branch"))
    commit = await api.get(f"/commits/{quote(ref, safe='')}")
    commit_sha = str(_field(commit, "sha"))
    tree_sha = str(_field(commit, "commit", "tree", "sha"))
    return commit_sha, [entry async for entry in _entries(api, tree_sha)]


def _as_api_entry(entry: TreeEntry) -> dict[str, Any]:
    return {"path": entry.path, "mode": entry.mode, "type": entry.type, "sha": entry.sha,
            "size": entry.size}


def _unchanged(ctx: PlanContext, art: Artifact) -> bool:
    """The previous snapshot has this file as planned (the core then keeps it)."""
    prev = ctx.previous.files.get(art.path) if ctx.previous else None
    return prev is not None and prev.digest == str(art.digest) and prev.size == art.size


async def _from_clone(planned: list[Artifact], cloned: ClonedTree, files: Path,
                      ctx: PlanContext) -> list[Artifact]:
    """The plan with the bytes of every changed file read from the clone.

    A file the mirror already has keeps its raw-URL artifact (the core keeps it without a
    request); the others become local files, verified by the same git blob SHA-1.
    """
    changed = [a for a in planned if not _unchanged(ctx, a)]
    if ctx.dry_run or not changed:
        return planned
    shas = [a.digest.hex for a in changed if a.digest is not None]
    try:
        from .treeclone import extract_blobs

        await anyio.to_thread.run_sync(extract_blobs, cloned.git_dir, shas, files)
    except (GitError, OSError) as exc:
        raise PlanError(f"git-tree fallback: {exc}") from None
    finally:
        shutil.rmtree(cloned.git_dir, ignore_errors=True)  # only the extracted files are needed
    swap = {a.path: Artifact(a.path, source=files / a.digest.hex, digest=a.digest, size=a.size)
            for a in changed if a.digest is not None}
    return [swap.get(a.path, a) for a in planned]
