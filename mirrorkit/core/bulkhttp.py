"""The HTTP client that streams file bodies: aiohttp, for its cost per request and per byte.

Measured on the benchmark machine (loopback nginx, one process, sha256 and file writes
included; ``benchmarks/``): 0.16 to 0.21 ms of CPU per 20 KB file against 0.74 to 0.78 ms
with httpx (even with the small pools of :mod:`.downloader`), and 0.35 CPU s per GB received
against 0.9 to 1.3 s. aiohttp parses HTTP in C (llhttp) and hands over what the socket
received without re-slicing it; httpx goes through h11 (pure Python, two copies per chunk)
and httpcore's pool bookkeeping on every request.

httpx stays the client of everything else (``ctx.client``, ``ctx.get``, downloads carrying
an ``httpx.Auth`` such as Homebrew's registry tokens): its auth flows are what plugins use.
This module only turns aiohttp's responses and errors into the downloader's terms; the
retry loop, limits, size caps and digest checks stay in :mod:`.downloader`.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

__all__ = ["Body", "BodyClient", "BodyError"]

# How much aiohttp buffers per response before it pauses reading: 64 KiB (its default) made
# it wake up the event loop four times as often for a large file, 1 MiB measured 0.36 CPU s
# per GB received against 0.51 s.
READ_BUFFER = 1024 * 1024


class BodyError(Exception):
    """A failed request or body, described for the user; ``final`` means do not retry."""

    def __init__(self, reason: str, *, final: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final


@dataclass(frozen=True, slots=True)
class Body:
    """A response's status line and headers, and its body as received."""

    status: int
    reason: str
    headers: Mapping[str, str]  # case-insensitive
    chunks: AsyncIterator[bytes]


class BodyClient:
    """An aiohttp session with the same environment rules as the run's httpx client.

    Proxies come from ``HTTP(S)_PROXY`` and ``NO_PROXY``, decided by aiohttp for every URL
    of a redirect chain (``trust_env``). That lookup runs on an executor thread for every
    request (it also reads ``~/.netrc``), which cost more than the request itself, so it
    is switched on only when a proxy variable is set. Proxy URLs need a scheme
    (``http://proxy:3128``); ``ALL_PROXY`` and ``https://`` proxies are not read by aiohttp.
    The SSL context is the downloader's (``ca_bundle``, ``SSL_CERT_FILE``). There is no
    connection limit here: the downloader's global and per-host limiters bound the requests
    in flight.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext, connect_timeout: float,
                 read_timeout: float, user_agent: str) -> None:
        proxied = any(scheme in urllib.request.getproxies_environment()
                      for scheme in ("http", "https"))
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_context, limit=0),
            # connect covers name resolution too (there is no pool to wait for: limit=0)
            timeout=aiohttp.ClientTimeout(total=None, connect=connect_timeout,
                                          sock_connect=connect_timeout, sock_read=read_timeout),
            headers={"User-Agent": user_agent},
            read_bufsize=READ_BUFFER,
            # file downloads need no cookies: no jar to filter and update on every request
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=proxied,
        )

    @asynccontextmanager
    async def open(self, url: str, headers: Mapping[str, str]) -> AsyncIterator[Body]:
        """GET ``url`` (following redirects); raises :class:`BodyError` for what went wrong."""
        try:
            resp = await self._session.get(url, headers=dict(headers))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _body_error(exc) from None
        try:
            yield Body(resp.status, resp.reason or "", resp.headers, _chunks(resp))
        finally:
            resp.release()

    async def close(self) -> None:
        await self._session.close()


async def _chunks(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    received = 0
    try:
        async for chunk in resp.content.iter_any():
            received += len(chunk)
            yield chunk
    except aiohttp.ClientPayloadError as exc:
        if "not completed" not in str(exc):  # e.g. a gzip body that does not decompress
            raise BodyError(f"corrupt body: {_first_line(exc)}") from None
        of = f" of {resp.content_length}" if resp.content_length is not None else ""
        raise BodyError(f"truncated body: got {received}{of} bytes") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _body_error(exc) from None


def _body_error(exc: BaseException) -> BodyError:
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return BodyError(f"invalid URL: {exc}", final=True)
    if isinstance(exc, aiohttp.TooManyRedirects):
        return BodyError("too many redirects", final=True)
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts derive from it too
        return BodyError(f"timed out ({type(exc).__name__})")
    return BodyError(f"connection error: {_first_line(exc) or type(exc).__name__}")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ""
