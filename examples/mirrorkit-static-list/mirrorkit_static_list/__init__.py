"""An example third-party registry plugin for mirrorkit, installed like any other package.

The upstream publishes ``index.json``: a JSON list of ``{"path", "url", "sha256", "size"}``
(``url`` may be relative to the index). The index itself is mirrored too, and committed
only after every file it lists, so a client reading it never meets a missing file. The plan
is a function of the index and the options alone, so when the index is what the last run
read, the core keeps that run's snapshot (``keep_previous_plan``): a no-op costs one
conditional request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import urljoin

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from mirrorkit.api import Artifact, PlanContext, PlanError, RegistryCollection, hookimpl


class StaticListOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index_url: HttpUrl = Field(description="URL of the JSON list of files to mirror.")
    index_path: str = Field("index.json", description="Where the index goes in the mirror.")
    include: list[str] = Field(
        default_factory=list,
        description="Mirror only paths starting with this prefix (default: everything).",
        json_schema_extra={"cli": "--include", "metavar": "PREFIX"},
    )


class StaticList:
    """Mirror every file named by a JSON index, verified against its sha256."""

    name = "static-list"
    summary = "Files listed in a JSON index (example third-party plugin)"
    Options = StaticListOptions

    async def plan(self, options: StaticListOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        index_url = str(options.index_url)
        staged = await ctx.fetch(Artifact.index(options.index_path, index_url))
        if ctx.keep_previous_plan():
            return
        try:
            items = json.loads(staged.read_bytes())
        except ValueError as exc:
            raise PlanError(f"{index_url}: index is not valid JSON ({exc})") from None
        if not isinstance(items, list):
            raise PlanError(f"{index_url}: index must be a JSON list")
        for n, item in enumerate(items):
            if not isinstance(item, dict) or not {"path", "url", "sha256"} <= item.keys():
                raise PlanError(f"{index_url}: entry {n} needs path, url and sha256")
            if options.include and not any(str(item["path"]).startswith(p)
                                            for p in options.include):
                continue
            try:
                yield Artifact.blob(
                    item["path"], urljoin(index_url, item["url"]),
                    sha256=item["sha256"], size=item.get("size"),
                )
            except ValueError as exc:
                raise PlanError(f"{index_url}: entry {n}: {exc}") from None


@hookimpl
def mirrorkit_add_registries(registries: RegistryCollection) -> None:
    registries.add(StaticList)
