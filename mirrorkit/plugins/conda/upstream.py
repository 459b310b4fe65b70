"""Requests to the channel that are not mirror files: existence probes and private copies.

A selective mirror serves its own repodata, so upstream's ``repodata.json`` is only an
input: it is kept in the plugin's work directory with its validators, asked for again with
``If-None-Match``/``If-Modified-Since``, and taken compressed (``repodata.json.zst``, a
tenth of the size) when the channel publishes that.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import BinaryIO

from mirrorkit.api import FetchError, PlanContext, PlanError, storable_url

__all__ = ["exists", "fetch_private"]

_ABSENT = ("HTTP 404", "HTTP 403", "HTTP 410")
#: a compressed repodata is read into memory before it is decompressed to disk: bounded
#: by the channel's largest compressed index (conda-forge linux-64: about 30 MB as .zst).
#: The decompressed copy has the same cap as a plain one (a zstd bomb writes no more)
MAX_BODY = 1 << 30
CHUNK = 1 << 20


async def exists(ctx: PlanContext, url: str) -> bool:
    """Whether the channel publishes ``url`` (a HEAD request; nothing is downloaded)."""
    try:
        resp = await ctx.get(url, method="HEAD", max_bytes=0)
    except FetchError as exc:
        if exc.reason.startswith(_ABSENT):
            return False
        raise PlanError(f"{url}: {exc.reason}") from None
    return resp.status_code < 300


def _not_modified(exc: FetchError) -> bool:
    return exc.reason.startswith("HTTP 304")


async def fetch_private(ctx: PlanContext, urls: list[str], target: Path) -> bool:
    """Bring ``target`` up to date from the first of ``urls`` the channel has.

    ``urls`` are one document in preferred encodings (``.zst``, then plain), each
    decompressed into ``target``. Returns True when ``target`` changed. A ``304`` answer
    (the validators of the last download are sent) leaves it as it is.
    """
    meta_path = target.with_name(target.name + ".validators.json")
    meta: dict[str, str] = {}
    if target.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
    for url in urls:
        headers = {}
        if meta.get("url") == storable_url(url):
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("last_modified"):
                headers["If-Modified-Since"] = meta["last_modified"]
        try:
            resp = await ctx.get(url, headers=headers, max_bytes=MAX_BODY)
        except FetchError as exc:
            if _not_modified(exc):
                return False
            if exc.reason.startswith(_ABSENT):
                continue
            raise PlanError(f"{url}: {exc.reason}") from None
        if resp.status_code == 304:
            return False
        _write_decoded(url, resp.content, target)
        new_meta = {"url": storable_url(url), "etag": resp.headers.get("ETag") or "",
                    "last_modified": resp.headers.get("Last-Modified") or ""}
        meta_path.write_text(json.dumps(new_meta))
        return True
    raise PlanError(f"{urls[-1]}: not found upstream (HTTP 404)")


def _write_decoded(url: str, body: bytes, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            if url.endswith(".zst"):
                _write_zstd(url, body, out)
            else:
                out.write(body)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


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
