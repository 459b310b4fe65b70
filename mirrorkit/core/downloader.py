"""Fetching over HTTP: bounded concurrency, retries, hashing while streaming.

File bodies without an ``httpx.Auth`` stream through aiohttp (:mod:`.bulkhttp` says why);
transient requests (``get``) and downloads that carry an auth flow go through httpx.

Everything that can go wrong on a network is sorted into *retryable* (connection errors,
timeouts, 5xx, 429, truncated or wrong bodies: another try may succeed) or *permanent*
(4xx), and the retry loop is tenacity's, with ``Retry-After`` taking precedence over the
exponential backoff.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import logging
import random
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, TypeVar

import anyio
import httpcore
import httpx
import tenacity

from . import bulkhttp
from .artifact import Artifact
from .digest import Digest, Hasher
from .registry import FetchError

__all__ = ["NOT_MODIFIED", "DownloadSettings", "Downloader", "FetchResult"]

log = logging.getLogger("mirrorkit.download")

CHUNK = 256 * 1024
# Bodies are hashed and written in batches of this size on a worker thread (hashlib and
# file writes release the GIL), so a large download uses a second core while the event loop
# keeps receiving; a body smaller than one batch is handled inline, which is cheaper.
BATCH = 1024 * 1024
# Downloads through httpx (those with an auth flow) are spread over several small connection
# pools ("lanes"): httpcore scans every connection of its pool on each request, which made
# one pool of 20+ connections cost more CPU per small file than everything else in a run.
LANE_CONNECTIONS = 4
USER_AGENT = "mirrorkit/0.1 (+offline mirror)"

# httpcore asks for 64 KiB per read while asyncio receives up to 256 KiB at a time, so each
# read was sliced (copied) four ways, each slice a trip through anyio and h11. Asking for what
# the transport holds cuts the event loop's CPU per GB of a large download by about a third.
httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class DownloadSettings:
    concurrency: int = 16
    per_host: int = 16
    retries: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 300.0
    connect_timeout: float = 30.0
    read_timeout: float = 60.0
    ca_bundle: Path | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    sha256: str
    size: int
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False

    @property
    def mtime(self) -> float | None:
        return http_date_to_epoch(self.last_modified)


NOT_MODIFIED = FetchResult(sha256="", size=0, not_modified=True)


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Permanent(Exception):
    pass


_RETRYABLE = (_Retryable, httpx.TransportError)
_T = TypeVar("_T")


@functools.lru_cache(maxsize=4096)
def http_date_to_epoch(value: str | None) -> float | None:
    # cached: files published together share their Last-Modified second, and parsing one
    # through datetime cost 10 to 25 us, for every file of a run
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = http_date_to_epoch(value)
    return None if when is None else max(0.0, when - time.time())


class _WaitRetryAfterOrBackoff(tenacity.wait.wait_base):
    """``Retry-After`` when the server gave one, else full-jitter exponential backoff.

    ``done`` attempts happened before tenacity took over (see ``Downloader._with_retries``),
    so its attempt 1 is the run's attempt ``done + 1``.
    """

    def __init__(self, settings: DownloadSettings, done: int = 0) -> None:
        self._cap = settings.max_retry_after
        self._initial = settings.backoff_initial
        self._max = settings.backoff_max
        self._done = done

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return self.after(exc, retry_state.attempt_number + self._done)

    def after(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds to wait after ``attempt`` (1 for the first try) failed with ``exc``."""
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self._cap)
        return random.uniform(0, min(self._max, self._initial * 2 ** (attempt - 1)))


def _url_origin(url: str) -> str:
    """``scheme://host:port`` of an absolute URL, by slicing: a key for per-host lookups."""
    start = url.find("//")
    end = url.find("/", start + 2) if start >= 0 else -1
    return url if end < 0 else url[:end]


def _log_retry(exc: BaseException | None, attempt: int, wait: float) -> None:
    log.info("retrying after %s (attempt %d, waiting %.1fs)",
             _describe(exc) if exc else "?", attempt, wait)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _Retryable | _Permanent):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        text = str(exc) or type(exc).__name__
        return f"connection error: {text}"
    return f"{type(exc).__name__}: {exc}"


class Downloader:
    """Owns the run's HTTP clients (httpx for plugins, aiohttp for bodies) and its limits."""

    def __init__(
        self, settings: DownloadSettings, *, on_bytes: Callable[[int], None] | None = None
    ) -> None:
        self.settings = settings
        self._on_bytes = on_bytes or (lambda n: None)
        # semaphores that skip the scheduling checkpoint when a slot is free: a
        # CapacityLimiter's borrower bookkeeping cost 0.02 ms per acquire, twice per file
        self._global = anyio.Semaphore(settings.concurrency, fast_acquire=True)
        self._hosts: dict[str, anyio.Semaphore] = {}
        self._origins: dict[str, anyio.Semaphore] = {}
        self._client: httpx.AsyncClient | None = None
        self._entered = False
        self._lanes: list[httpx.AsyncClient] = []
        self._free_lanes: list[httpx.AsyncClient] = []  # one entry per free connection slot
        self._bodies: bulkhttp.BodyClient | None = None
        self.requests = 0

    async def __aenter__(self) -> Downloader:
        verify: ssl.SSLContext | bool = True
        if self.settings.ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(self.settings.ca_bundle))
        # one SSL context for every client (loading the CA store once), honouring SSL_CERT_FILE
        self._ssl = httpx.create_ssl_context(verify=verify, trust_env=True)
        self._entered = True
        return self

    def _new_client(self, connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=self._ssl,
            limits=httpx.Limits(
                max_connections=connections, max_keepalive_connections=connections
            ),
            timeout=httpx.Timeout(
                self.settings.read_timeout, connect=self.settings.connect_timeout, pool=None
            ),
            follow_redirects=True,
            trust_env=True,  # HTTP(S)_PROXY, NO_PROXY, SSL_CERT_FILE from the environment
            headers={"User-Agent": USER_AGENT},
        )

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for lane in self._lanes:
            await lane.aclose()
        if self._bodies is not None:
            await self._bodies.close()
        if self._client is not None:
            await self._client.aclose()

    @asynccontextmanager
    async def _open(self, artifact: Artifact, headers: dict[str, str]
                    ) -> AsyncIterator[bulkhttp.Body]:
        """The response to GET ``artifact.url``: through aiohttp, or httpx for an auth flow."""
        assert artifact.url is not None
        if artifact.auth is None:
            if self._bodies is None:  # created on the loop that uses it
                self._bodies = bulkhttp.BodyClient(
                    ssl_context=self._ssl, connect_timeout=self.settings.connect_timeout,
                    read_timeout=self.settings.read_timeout, user_agent=USER_AGENT)
            try:
                async with self._bodies.open(artifact.url, headers) as body:
                    yield body
            except bulkhttp.BodyError as exc:
                raise (_Permanent if exc.final else _Retryable)(exc.reason) from None
            return
        async with self._lane() as client, client.stream(
            "GET", artifact.url, headers=headers, auth=artifact.auth
        ) as resp:
            # as received: no re-chunking copy
            yield bulkhttp.Body(resp.status_code, resp.reason_phrase, resp.headers,
                                resp.aiter_bytes())

    @asynccontextmanager
    async def _lane(self) -> AsyncIterator[httpx.AsyncClient]:
        """A connection slot on a small pool; a new pool is opened when every slot is busy."""
        if not self._free_lanes:
            lane = self._new_client(LANE_CONNECTIONS)
            self._lanes.append(lane)
            self._free_lanes.extend([lane] * LANE_CONNECTIONS)
        client = self._free_lanes.pop()
        try:
            yield client
        finally:
            self._free_lanes.append(client)

    @property
    def client(self) -> httpx.AsyncClient:
        """Created on first use: a run whose plugin only fetches files never needs it."""
        assert self._entered, "Downloader used outside 'async with'"
        if self._client is None:
            self._client = self._new_client(self.settings.concurrency + 4)
        return self._client

    def _host_limiter(self, url: str) -> anyio.Semaphore:
        # looked up by the URL's origin, a slice of the string: parsing each URL (httpx.URL)
        # cost 0.1 ms, a tenth of a small file's whole budget
        origin = _url_origin(url)
        limiter = self._origins.get(origin)
        if limiter is None:
            try:
                host = urllib.parse.urlsplit(url).hostname or ""
            except ValueError:  # the request itself reports the malformed URL
                host = ""
            limiter = self._hosts.get(host)
            if limiter is None:
                limiter = self._hosts[host] = anyio.Semaphore(self.settings.per_host,
                                                              fast_acquire=True)
            self._origins[origin] = limiter
        return limiter

    async def _with_retries(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """``attempt()``, tried again after retryable failures, up to ``retries`` times.

        The first try runs outside tenacity: setting up its loop (with its checks of
        whether each callback is a coroutine) was 6% of a small file's CPU, and almost
        every download succeeds at once. After a failure tenacity takes over for the tries
        that are left, starting with the wait that failure calls for.
        """
        try:
            return await attempt()
        except _RETRYABLE as exc:
            if self.settings.retries == 0:
                raise
            first = exc
        wait = _WaitRetryAfterOrBackoff(self.settings, done=1)
        pause = wait.after(first, 1)
        _log_retry(first, 1, pause)
        await anyio.sleep(pause)
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.settings.retries),
            wait=wait,
            retry=tenacity.retry_if_exception_type(_RETRYABLE),
            reraise=True,
            before_sleep=lambda state: _log_retry(
                state.outcome.exception() if state.outcome else None,
                state.attempt_number + 1,
                state.next_action.sleep if state.next_action else 0.0),
        )
        async for try_ in retrying:
            with try_:
                return await attempt()
        raise AssertionError("unreachable")  # pragma: no cover

    async def download(
        self,
        artifact: Artifact,
        target: Path,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """Stream ``artifact`` into ``target``, verified. Raises :class:`FetchError`."""
        assert artifact.url is not None
        headers = dict(artifact.headers)
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            return await self._with_retries(
                lambda: self._download_once(artifact, target, headers))
        except (*_RETRYABLE, _Permanent) as exc:
            target.unlink(missing_ok=True)
            raise FetchError(artifact.path, artifact.url, _describe(exc)) from None
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    async def _download_once(
        self, artifact: Artifact, target: Path, headers: dict[str, str]
    ) -> FetchResult:
        assert artifact.url is not None
        expected = artifact.digest
        async with self._host_limiter(artifact.url), self._global:
            self.requests += 1
            async with self._open(artifact, headers) as resp:
                if resp.status == 304 and ("If-None-Match" in headers
                                           or "If-Modified-Since" in headers):
                    return NOT_MODIFIED
                _raise_for_status(resp.status, resp.reason, resp.headers)
                declared = _content_length(resp.headers)
                if artifact.size is not None and declared is not None and declared != artifact.size:
                    raise _Retryable(
                        f"server announced {declared} bytes, expected {artifact.size}"
                    )
                sha = hashlib.sha256()
                other: Hasher | None = None
                if expected is not None and expected.algorithm != "sha256":
                    other = expected.hasher(artifact.size)
                limit = artifact.size
                count = 0
                sink = _BodySink(target, [sha] if other is None else [sha, other])
                try:
                    batch: list[bytes] = []
                    batched = 0
                    async for chunk in resp.chunks:
                        count += len(chunk)
                        if limit is not None and count > limit:
                            raise _Retryable(f"body is larger than the expected {limit} bytes")
                        batch.append(chunk)
                        batched += len(chunk)
                        if batched >= BATCH:
                            await anyio.to_thread.run_sync(sink.write, batch)
                            batch, batched = [], 0
                        self._on_bytes(len(chunk))
                    if sink.opened:
                        await anyio.to_thread.run_sync(sink.finish, batch)
                    else:  # a body smaller than one batch: cheaper inline than on a thread
                        sink.finish(batch)
                finally:
                    sink.close()
                if declared is not None and count < declared:
                    raise _Retryable(f"truncated body: got {count} of {declared} bytes")
                if limit is not None and count != limit:
                    raise _Retryable(f"truncated body: got {count} of {limit} bytes")
                sha_hex = sha.hexdigest()
                _check_digest(expected, sha_hex, other)
                server_digest = (
                    resp.headers.get(artifact.response_digest_header)
                    if artifact.response_digest_header else None
                )
                if server_digest:
                    _check_response_digest(server_digest, sha_hex, artifact.response_digest_header)
                return FetchResult(
                    sha256=sha_hex,
                    size=count,
                    etag=resp.headers.get("ETag"),
                    last_modified=resp.headers.get("Last-Modified"),
                )

    async def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        max_bytes: int = 64 * 1024 * 1024,
        method: str = "GET",
        content: bytes | None = None,
        max_retry_after: float | None = None,
    ) -> httpx.Response:
        """A transient request with retries; the body is read into memory.

        A ``Retry-After`` (or rate-limit reset) beyond ``max_retry_after`` ends the request
        at once instead of being waited for.
        """

        async def once() -> httpx.Response:
            try:
                return await self._get_once(url, headers or {}, auth, max_bytes, method, content)
            except _Retryable as exc:
                wait = exc.retry_after
                if max_retry_after is not None and wait is not None and wait > max_retry_after:
                    raise _Permanent(f"{exc.reason} (retry in {wait:.0f}s, beyond the "
                                     f"{max_retry_after:g}s allowed)") from None
                raise

        try:
            return await self._with_retries(once)
        except (*_RETRYABLE, _Permanent) as exc:
            raise FetchError(url, None, _describe(exc)) from None

    async def _get_once(
        self, url: str, headers: Mapping[str, str], auth: httpx.Auth | None, max_bytes: int,
        method: str, content: bytes | None = None,
    ) -> httpx.Response:
        async with self._host_limiter(url), self._global:
            self.requests += 1
            req = self.client.build_request(method, url, headers=headers, content=content)
            resp = await self.client.send(
                req, auth=auth or httpx.USE_CLIENT_DEFAULT, stream=True
            )
            try:
                _raise_for_status(resp.status_code, resp.reason_phrase, resp.headers)
                body = bytearray()
                async for chunk in resp.aiter_bytes(CHUNK):
                    body += chunk
                    if len(body) > max_bytes:
                        raise _Permanent(f"response is larger than {max_bytes} bytes")
            finally:
                await resp.aclose()
            resp._content = bytes(body)
            return resp


class _BodySink:
    """Hashes and writes a body in batches.

    A large body's batches go to worker threads (the first one opens the file): hashlib and
    writes release the GIL, so hashing and writing overlap with receiving on the event loop.
    A body smaller than one batch is written inline on completion, one open-write-close,
    which costs less than a trip to a thread.
    """

    def __init__(self, target: Path, hashers: list[Hasher]) -> None:
        self._target = target
        self._hashers = hashers
        self._fh: BinaryIO | None = None

    def write(self, chunks: list[bytes]) -> None:
        if self._fh is None:
            self._fh = open(self._target, "wb")  # noqa: SIM115 (closed by close())
        for data in chunks:  # no joining: that would be one more copy, holding the GIL
            self._fh.write(data)
            for h in self._hashers:
                h.update(data)

    @property
    def opened(self) -> bool:
        return self._fh is not None

    def finish(self, chunks: list[bytes]) -> None:
        self.write(chunks)
        self.close()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _content_length(headers: Mapping[str, str]) -> int | None:
    if headers.get("Content-Encoding", "identity") != "identity":
        return None
    value = headers.get("Content-Length")
    if value is None or not value.isdigit():
        return None
    return int(value)


def _rate_limit_reset_wait(value: str | None) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (epoch seconds, as GitHub and others send it)."""
    if not value or not value.strip().isdigit():
        return None
    return max(0.0, float(value.strip()) - time.time()) + 1.0


def _raise_for_status(code: int, reason: str, headers: Mapping[str, str]) -> None:
    if code < 300:
        return
    if code in (403, 429) and headers.get("X-RateLimit-Remaining", "").strip() == "0":
        # An exhausted API rate limit (GitHub answers 403): wait for the reset, then retry.
        wait = _retry_after_seconds(headers.get("Retry-After"))
        raise _Retryable(
            f"HTTP {code} rate limit exceeded",
            retry_after=wait if wait is not None else _rate_limit_reset_wait(
                headers.get("X-RateLimit-Reset")),
        )
    if code == 429 or code >= 500 or code == 408:
        raise _Retryable(
            f"HTTP {code} {reason}".rstrip(),
            retry_after=_retry_after_seconds(headers.get("Retry-After")),
        )
    raise _Permanent(f"HTTP {code} {reason}".rstrip())


def _check_digest(expected: Digest | None, sha_hex: str, other: Hasher | None) -> None:
    if expected is None:
        return
    got = sha_hex if other is None else other.hexdigest()
    if got != expected.hex:
        raise _Retryable(
            f"{expected.algorithm} mismatch: expected {expected.hex}, got {got}"
        )


def _check_response_digest(server_digest: str, sha_hex: str, header: str | None) -> None:
    try:
        announced = Digest.parse(server_digest.strip())
    except ValueError:
        raise _Retryable(f"malformed {header} header {server_digest[:100]!r}") from None
    if announced.algorithm == "sha256" and announced.hex != sha_hex:
        raise _Retryable(f"{header} says {announced}, body hashes to sha256:{sha_hex}")
