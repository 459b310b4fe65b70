"""Requests to the channel that are not mirror files: existence probes and private inputs.

A selective mirror serves its own repodata, so upstream's ``repodata.json`` (taken as
``repodata.json.zst``, a tenth of the size, when the channel publishes that) and
``channeldata.json`` are only inputs. The body last received and its validators are kept in
plugin state, so the next run asks with ``If-None-Match``/``If-Modified-Since`` and, on a
``304``, plans from the kept body without downloading it again (wherever the mirror lives:
the state is saved with the snapshot, in the bucket for an ``s3://`` mirror).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mirrorkit.api import FetchError, PlanContext, PlanError, Validators, storable_url

__all__ = ["PrivateInput", "PrivateInputs", "exists", "forget_inputs"]

#: statuses meaning "the channel does not publish this file"
ABSENT = frozenset({403, 404, 410})
#: a compressed repodata is read into memory before it is decompressed to disk: bounded
#: by the channel's largest compressed index (conda-forge linux-64: about 30 MB as .zst).
#: The decompressed copy has the same cap as a plain one (a zstd bomb writes no more)
MAX_BODY = 1 << 30
CHUNK = 1 << 20
#: plugin state: the validators of every private input, by key
_VALIDATORS = "upstream.json"
_VALIDATORS_VERSION = 1


async def exists(ctx: PlanContext, url: str) -> bool:
    """Whether the channel publishes ``url`` (a HEAD request; nothing is downloaded)."""
    try:
        await ctx.get(url, method="HEAD", max_bytes=0)
    except FetchError as exc:
        if exc.status in ABSENT:
            return False
        raise PlanError(f"{url}: {exc.reason}") from None
    return True


def _body_name(key: str) -> str:
    """The state file holding the body of input ``key`` (``linux-64/repodata.json``)."""
    return "upstream-" + key.replace("/", "-")


@dataclass
class PrivateInput:
    """One upstream document as this run found it."""

    key: str  # linux-64/repodata.json, channeldata.json
    url: str | None  # the URL that answered; None: the channel publishes none
    body: bytes | None  # what upstream sent; None: not modified, the kept body is current


class PrivateInputs:
    """The selective mirror's upstream documents, asked for conditionally.

    Each answer goes to the core's plan record (``ctx.get``), so the plugin can ask
    ``ctx.keep_previous_plan()`` once it has asked for every input. The stored validators
    name the URL without credentials (``storable_url``: no userinfo, no conda token).
    """

    def __init__(self, ctx: PlanContext) -> None:
        self.ctx = ctx
        self._saved: dict[str, dict[str, str]] = {}
        self._now: dict[str, dict[str, str]] = {}

    async def load(self) -> None:
        saved = await self.ctx.state.read_json(_VALIDATORS, version=_VALIDATORS_VERSION)
        self._saved = saved if isinstance(saved, dict) else {}

    async def get(self, key: str, urls: list[str], *, required: bool = True) -> PrivateInput:
        """Ask for ``key`` at the first of ``urls`` the channel has (one document in
        preferred encodings: ``.zst``, then plain)."""
        saved = self._saved.get(key)
        for url in urls:
            conditional = None
            if isinstance(saved, dict) and saved.get("url") == storable_url(url):
                conditional = Validators(saved.get("etag") or None,
                                         saved.get("last_modified") or None) or None
            try:
                resp = await self.ctx.get(url, max_bytes=MAX_BODY, conditional=conditional)
            except FetchError as exc:
                if exc.status in ABSENT:
                    continue
                raise PlanError(f"{url}: {exc.reason}") from None
            if resp.not_modified:
                assert saved is not None
                self._now[key] = saved
                return PrivateInput(key, url, None)
            self.ctx.state.write_bytes(_body_name(key), resp.content)
            validators = resp.validators
            self._now[key] = {"url": storable_url(url), "etag": validators.etag or "",
                              "last_modified": validators.last_modified or ""}
            return PrivateInput(key, url, resp.content)
        if required:
            raise PlanError(f"{urls[-1]}: the channel does not publish it")
        return PrivateInput(key, None, None)

    def save(self) -> None:
        """Keep this run's validators, and drop the bodies of inputs no longer read."""
        for key in self._saved.keys() - self._now.keys():
            self.ctx.state.delete(_body_name(key))
        if self._now != self._saved:
            self.ctx.state.write_json(_VALIDATORS, self._now, version=_VALIDATORS_VERSION)

    async def document(self, got: PrivateInput, work: Path) -> Path:
        """A local file with the decoded document (``work/<key>`` when it had to be
        written), from this run's body or the kept one."""
        assert got.url is not None
        body = got.body
        if body is None:
            kept = await self.ctx.state.path(_body_name(got.key))
            if kept is not None and not got.url.endswith(".zst"):
                return kept  # a plain body is read where it is kept
            if kept is not None:
                body = kept.read_bytes()
            else:  # validators without their body (saved by hand?): ask again, in full
                self.ctx.log.warning("%s: the kept copy is missing; downloading it again",
                                     got.key)
                resp = await self.ctx.get(got.url, max_bytes=MAX_BODY)
                body = resp.content
                self.ctx.state.write_bytes(_body_name(got.key), body)
        target = work / got.key
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            if got.url.endswith(".zst"):
                _write_zstd(got.url, body, out)
            else:
                out.write(body)
        return target


async def forget_inputs(ctx: PlanContext) -> None:
    """Drop what a selective run of the same mirror kept (a whole-subdir run reads none)."""
    saved = await ctx.state.read_json(_VALIDATORS, version=_VALIDATORS_VERSION)
    if isinstance(saved, dict):
        for key in saved:
            ctx.state.delete(_body_name(key))
    ctx.state.delete(_VALIDATORS)


def _write_zstd(url: str, body: bytes, out: BinaryIO) -> None:
    """Decompress ``body`` into ``out``, at most :data:`MAX_BODY` bytes of it: refused at
    once when the frame announces more, else when its output passes the cap."""
    from .variants import zstandard_module

    zstandard = zstandard_module()
    too_big = f"{url}: decompresses to more than the {MAX_BODY} bytes allowed for it"
    try:
        announced = zstandard.frame_content_size(body)
    except zstandard.ZstdError as exc:
        raise PlanError(f"{url}: not a zstd stream ({exc})") from None
    if announced > MAX_BODY:
        raise PlanError(too_big)
    written = 0
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body),  # shares body
                                                            read_across_frames=True)
        while chunk := reader.read(CHUNK):
            written += len(chunk)
            if written > MAX_BODY:
                raise PlanError(too_big)
            out.write(chunk)
    except zstandard.ZstdError as exc:
        raise PlanError(f"{url}: not a zstd stream ({exc})") from None
