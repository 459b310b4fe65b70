"""The run's one HTTP client: every request of a run goes through :class:`Transport`.

aiohttp carries the bytes. Measured on the benchmark machine (loopback nginx, sha256 and
file writes included; ``benchmarks/``): 0.16 to 0.21 ms of CPU per 20 KB file against 0.74
to 0.78 ms with httpx, and 0.35 CPU s per GB received against 0.9 to 1.3 s. aiohttp parses
HTTP in C (llhttp) and hands over what the socket received without re-slicing it.

Redirects are followed here, not by aiohttp, so that every hop obeys the same rules: the
limit of the host it goes to (a CDN gets its own), the proxy chosen for its origin, no
``Authorization`` (neither the auth's nor a plugin's header) on a host other than the
request's own, and only ``http``/``https`` targets. A ``401`` from the request's own host is
handed to its :class:`~.auth.Auth` (at most twice); a token it asks for goes through this
transport.
"""

from __future__ import annotations

import errno
import socket
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType

from yarl import URL

from ._aiohttp import aiohttp
from .auth import Auth
from .bandwidth import Bandwidth
from .errors import Permanent, Retryable, raise_for_status
from .limits import Limits
from .proxies import ProxyChooser
from .response import Response
from .retries import with_retries
from .settings import TransportSettings

__all__ = ["USER_AGENT", "Streamed", "Transport", "url_origin"]

USER_AGENT = "mirrorkit/0.1 (+offline mirror)"
MAX_REDIRECTS = 10
# A 401 is handed to the request's Auth at most this often. Twice: a request sent before
# another one got a token retries with that token (the first answer), and when that token
# does not cover it (a registry that granted fewer scopes than asked), the Auth asks anew.
MAX_ANSWERS = 2
CHUNK = 256 * 1024
# How much aiohttp buffers per response before it pauses reading: 64 KiB (its default) made
# it wake up the event loop four times as often for a large file, 1 MiB measured 0.36 CPU s
# per GB received against 0.51 s.
READ_BUFFER = 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# never sent to a host other than the request's own
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
# an ``ask`` from an Auth (a token endpoint) reads at most this much
_TOKEN_MAX_BYTES = 1024 * 1024
# A body that inflates (Content-Encoding) more than this ratio past this size is refused as a
# compression bomb: real indexes compress 5 to 20 times, gzip's own limit is about 1,000.
BOMB_RATIO = 200
BOMB_FLOOR = 16 * 1024 * 1024


def url_origin(url: str) -> str:
    """``scheme://host:port`` of an absolute URL, by slicing: a key for per-host lookups."""
    start = url.find("//")
    end = url.find("/", start + 2) if start >= 0 else -1
    origin = url if end < 0 else url[:end]
    q = origin.find("?")
    return origin if q < 0 else origin[:q]


@dataclass(frozen=True, slots=True)
class Streamed:
    """A response whose body is being received: status, headers, final URL, body chunks."""

    status: int
    reason: str
    headers: Mapping[str, str]  # case-insensitive
    url: str
    chunks: AsyncIterator[bytes]


class Transport:
    """Limits, proxies, trust, auth and retries for every request of one run."""

    def __init__(self, settings: TransportSettings, *,
                 concurrency: int | None = None, per_host: int | None = None) -> None:
        self.settings = settings
        self.limits = Limits(concurrency=concurrency, per_host=per_host)
        self._proxies = ProxyChooser()
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        limit = settings.bandwidth_limit
        self._bandwidth = Bandwidth(limit) if limit else None
        # hosts refusing connections: since when (no answer since), and those given up on
        self._refusing: dict[str, float] = {}
        self._given_up: dict[str, str] = {}

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def ssl_context(self) -> ssl.SSLContext | bool:
        """A ``ca_bundle`` replaces the default store; without one, aiohttp's own verifying
        context (the default store, which honours ``SSL_CERT_FILE``/``SSL_CERT_DIR``) is
        used: loading the store again cost 50 ms of CPU per run."""
        if self.settings.ca_bundle is None:
            return True
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=str(self.settings.ca_bundle))
        return self._ssl

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on the loop that uses it
            s = self.settings
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.ssl_context, limit=0),
                # connect covers name resolution too (no pool to wait for: limit=0)
                timeout=aiohttp.ClientTimeout(total=None, connect=s.connect_timeout,
                                              sock_connect=s.connect_timeout,
                                              sock_read=s.read_timeout),
                headers={"User-Agent": USER_AGENT},
                read_bufsize=READ_BUFFER,
                cookie_jar=aiohttp.DummyCookieJar(),  # no jar to update per request
                trust_env=False,  # proxies are chosen here, per hop (ProxyChooser)
            )
        return self._session

    # ------------------------------------------------------------------ streaming
    @asynccontextmanager
    async def stream(self, url: str, *, headers: Mapping[str, str] | None = None,
                     auth: Auth | None = None, method: str = "GET", nested: bool = False,
                     body: bytes | None = None, redirects: bool = True,
                     ) -> AsyncIterator[Streamed]:
        """One try at ``url``, redirects followed; the body streams while the context is open.

        Raises :class:`Retryable` or :class:`Permanent` for what went wrong on the way (not
        for the final status: the caller decides what a 304 or a 404 means). ``nested``
        requests (an auth's token request) run inside a request that holds a global slot.
        """
        if not nested:
            await self.limits.request.acquire()
        try:
            async with self._follow(url, dict(headers or {}), auth, method, body,
                                    redirects) as streamed:
                yield streamed
        finally:
            if not nested:
                self.limits.request.release()

    @asynccontextmanager
    async def _follow(self, url: str, headers: dict[str, str], auth: Auth | None,
                      method: str, body: bytes | None, redirects: bool
                      ) -> AsyncIterator[Streamed]:
        origin = url_origin(url)
        hop, hop_origin = url, origin
        answers = 0
        session = self._client()
        for _ in range(MAX_REDIRECTS + 1):
            same = hop_origin == origin
            send = headers if same else {k: v for k, v in headers.items()
                                         if k.lower() not in _CREDENTIAL_HEADERS}
            if auth is not None and same:
                await auth.prepare(hop, self._ask)
                send = {**send, **auth.headers(hop)}
            if self._given_up and hop_origin in self._given_up:
                raise Permanent(self._given_up[hop_origin])
            host = self.limits.host(hop_origin)
            sent = await host.acquire()
            try:
                resp = await session.request(method, hop, headers=send, data=body,
                                             allow_redirects=False,
                                             proxy=self._proxies.for_url(hop_origin))
            except BaseException as exc:
                err = _request_error(exc)
                host.release(sent, refused=isinstance(err, Retryable) and err.refused)
                if err is None:
                    raise
                if isinstance(err, Retryable) and err.unreachable:
                    self._refused_by(hop_origin, err)
                raise err from None
            if self._refusing:
                self._refusing.pop(hop_origin, None)  # it answers again
            latency = time.monotonic() - sent
            status = resp.status
            if redirects and status in _REDIRECTS and "Location" in resp.headers:
                location = resp.headers["Location"]
                resp.release()
                host.release(sent, latency=latency)
                hop = _redirect_target(hop, location)
                hop_origin = url_origin(hop)
                if (status == 303 and method != "HEAD") or (status in (301, 302)
                                                            and method == "POST"):
                    method, body = "GET", None  # what browsers and curl do
                continue
            if status == 401 and auth is not None and same and answers < MAX_ANSWERS:
                answers += 1
                challenge = Response(status, resp.headers, b"", hop, resp.reason or "")
                resp.release()
                host.release(sent, latency=latency)
                if await auth.answer(hop, send, challenge, self._ask):
                    continue
                raise Permanent(f"HTTP 401 {resp.reason or 'Unauthorized'}")
            try:
                yield Streamed(status, resp.reason or "", resp.headers, hop,
                               _chunks(resp, self.settings, self._bandwidth))
            except BaseException as exc:
                host.release(sent, latency=latency,
                             refused=isinstance(exc, Retryable) and exc.refused,
                             retry_after=exc.retry_after if isinstance(exc, Retryable) else None,
                             status=exc.status if isinstance(exc, Retryable) else None)
                raise
            else:
                host.release(sent, latency=latency)
            finally:
                resp.release()
            return
        raise Permanent("too many redirects")

    def _refused_by(self, origin: str, err: Retryable) -> None:
        """A host that opened no connection for ``connect_timeout`` seconds is given up on:
        its files fail at once instead of each spending its retries' backoff (a stopped
        server behind 2,400 files took 154 s). A restart shorter than that is retried.

        The streak starts at the first failure seen, not when that request was sent: a
        connect that timed out on a host answering other requests meanwhile is no streak.
        """
        now = time.monotonic()
        since = self._refusing.setdefault(origin, now)
        window = self.settings.connect_timeout
        if now - since >= window:
            self._given_up[origin] = (f"{err.reason} (not tried again: {origin} opened no "
                                      f"connection for {window:g}s)")

    async def _ask(self, url: str) -> Response:
        """A GET an :class:`Auth` makes (a token), inside the request that needed it."""
        return await self._buffered(url, {}, None, _TOKEN_MAX_BYTES, "GET", nested=True,
                                    fail_on_status=False)

    # ------------------------------------------------------------------ in memory
    async def request(self, url: str, *, headers: Mapping[str, str] | None = None,
                      auth: Auth | None = None, max_bytes: int = 64 * 1024 * 1024,
                      method: str = "GET", body: bytes | None = None,
                      redirects: bool = True,
                      max_retry_after: float | None = None,
                      not_modified: bool = False) -> Response:
        """A request with retries, its body read into memory (at most ``max_bytes``).

        A status of 300 or more raises :class:`Permanent` or :class:`Retryable`, but for a
        304 when ``not_modified`` (the caller sent validators and wants the answer).
        """
        hdrs = dict(headers or {})
        return await with_retries(self.settings, url, lambda: self._buffered(
            url, hdrs, auth, max_bytes, method, nested=False, fail_on_status=True, body=body,
            redirects=redirects, not_modified=not_modified), max_retry_after=max_retry_after)

    async def _buffered(self, url: str, headers: Mapping[str, str], auth: Auth | None,
                        max_bytes: int, method: str, *, nested: bool,
                        fail_on_status: bool, body: bytes | None = None,
                        redirects: bool = True, not_modified: bool = False) -> Response:
        async with self.stream(url, headers=headers, auth=auth, method=method,
                               nested=nested, body=body, redirects=redirects) as resp:
            if not_modified and resp.status == 304:
                return Response(304, resp.headers, b"", resp.url, resp.reason)
            if fail_on_status or resp.status in (429,) or resp.status >= 500:
                raise_for_status(resp.status, resp.reason, resp.headers)
            content = bytearray()
            async for chunk in resp.chunks:
                content += chunk
                if len(content) > max_bytes:
                    raise Permanent(f"response is larger than {max_bytes} bytes")
            return Response(resp.status, resp.headers, bytes(content), resp.url, resp.reason)


def _redirect_target(current: str, location: str) -> str:
    try:
        target = URL(current).join(URL(location))
    except ValueError:
        raise Permanent(f"invalid URL: redirect to {location[:200]}") from None
    if target.scheme not in ("http", "https") or not target.host:
        raise Permanent(f"invalid URL: redirect to {location[:200]}")
    return str(target)


async def _chunks(resp: aiohttp.ClientResponse, settings: TransportSettings,
                  bandwidth: Bandwidth | None = None) -> AsyncIterator[bytes]:
    """The body as received; a body slower than ``min_rate`` over its window is abandoned.

    Time a body spends held back by the run's own ``bandwidth`` cap does not count against
    ``min_rate``: only the upstream's slowness does.
    """
    received = 0
    started = time.monotonic()
    held = 0.0
    window, floor = settings.min_rate_window, settings.min_rate
    encoded = resp.headers.get("Content-Encoding", "identity").lower() != "identity"
    try:
        async for chunk in resp.content.iter_any():
            received += len(chunk)
            if encoded and received > BOMB_FLOOR:
                raw = getattr(resp.content, "total_raw_bytes", 0)  # aiohttp >= 3.12
                if raw and received > raw * BOMB_RATIO:
                    raise Permanent(f"refused a compression bomb: {received} bytes inflated "
                                    f"from {raw} (more than {BOMB_RATIO} times)")
            if bandwidth is not None:
                held += await bandwidth.take(len(chunk))
            if floor > 0:
                elapsed = time.monotonic() - started - held
                if elapsed > window and received < floor * elapsed:
                    raise Retryable(
                        f"timed out: too slow ({received} bytes in {elapsed:.0f}s, under "
                        f"{floor:.0f} bytes/s)", refused=True, silent=True)
            yield chunk
    except aiohttp.ClientPayloadError as exc:
        if "not completed" not in str(exc):  # e.g. a gzip body that does not decompress
            raise Retryable(f"corrupt body: {_first_line(exc)}") from None
        of = f" of {resp.content_length}" if resp.content_length is not None else ""
        raise Retryable(f"truncated body: got {received}{of} bytes") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        err = _request_error(exc)
        assert err is not None
        raise err from None


def _request_error(exc: BaseException) -> Retryable | Permanent | None:
    """What an exception from aiohttp means for the request; None: not a network failure."""
    if isinstance(exc, Retryable | Permanent):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        # the server's certificate is not trusted (or not for this name): no retry changes
        # it, only --ca-bundle or the server's operator does. Before the ValueError below,
        # which it also is (ssl.CertificateError): it was reported as an invalid URL
        return Permanent(f"TLS certificate error: {_first_line(exc) or type(exc).__name__}")
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError | ValueError):
        return Permanent(f"invalid URL: {exc}")
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts derive from it too
        return Retryable(f"timed out ({type(exc).__name__})", refused=True, silent=True,
                         unreachable=isinstance(exc, aiohttp.ConnectionTimeoutError))
    if isinstance(exc, aiohttp.ClientSSLError):
        return Retryable(f"connection error: {_first_line(exc) or type(exc).__name__}")
    if isinstance(exc, aiohttp.ClientConnectorError) and _unknown_name(exc):
        # the resolver answered that the name does not exist: offline, or a typo
        return Permanent(f"connection error: {_first_line(exc) or type(exc).__name__} "
                         "(not retried: the host name does not resolve)")
    if isinstance(exc, aiohttp.ClientConnectorError) and _no_such_server(exc):
        return Retryable(f"connection error: {_first_line(exc) or type(exc).__name__}",
                         refused=True, unreachable=True)
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError
                  | aiohttp.ClientOSError):
        return Retryable(f"connection error: {_first_line(exc) or type(exc).__name__}",
                         refused=True)
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Retryable(f"connection error: {_first_line(exc) or type(exc).__name__}")
    return None


#: getaddrinfo's answers that the name has no address ("Name or service not known", "No
#: address associated with hostname", "Non-recoverable failure in name resolution"), as
#: opposed to EAI_AGAIN ("Temporary failure in name resolution": a resolver that timed out)
_UNKNOWN_NAME = frozenset(getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA",
                                                             "EAI_FAIL")
                          if hasattr(socket, name))


def _unknown_name(exc: aiohttp.ClientConnectorError) -> bool:
    os_error = exc.os_error
    return isinstance(os_error, socket.gaierror) and os_error.errno in _UNKNOWN_NAME


def _no_such_server(exc: aiohttp.ClientConnectorError) -> bool:
    """Nothing listens there, or no route or name leads there (a temporary failure of
    name resolution, a reset handshake or no free local port is not that)."""
    os_error = exc.os_error
    if isinstance(os_error, socket.gaierror):
        return os_error.errno != socket.EAI_AGAIN
    return os_error.errno in _NO_SERVER_ERRNOS


_NO_SERVER_ERRNOS = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH})


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ""
