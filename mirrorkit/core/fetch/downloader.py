"""File bodies into staging files: hashed while streaming, verified, through the transport.

Requests, redirects, auth, limits and retries are the transport's
(:mod:`mirrorkit.core.transport`); this module adds what a mirrored file needs on top:
conditional requests, size and digest checks, and writing the body while it is hashed.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from urllib.parse import urlsplit

import anyio

from ..plan.artifact import Artifact, Kind
from ..plan.digest import Digest, Hasher
from ..plan.registry import FetchError
from ..run.report import HostReport
from ..transport import Auth, Response, TransportSettings, Validators
from ..transport.client import Transport
from ..transport.errors import Permanent, Retryable, raise_for_status
from ..transport.retries import describe, with_retries
from .result import NOT_MODIFIED, FetchResult

__all__ = ["NOT_MODIFIED", "Downloader", "FetchResult"]

# Bodies are hashed and written in batches of this size on a worker thread (hashlib and
# file writes release the GIL), so a large download uses a second core while the event loop
# keeps receiving; a body smaller than one batch is handled inline, which is cheaper.
BATCH = 1024 * 1024


class Downloader:
    """Owns the run's :class:`Transport` and streams artifacts through it into files."""

    #: small bodies may come back in memory (``hold_up_to``), for the run's commit thread
    holds_bodies = True

    def __init__(self, settings: TransportSettings, *,
                 on_bytes: Callable[[int], None] | None = None,
                 concurrency: int | None = None, per_host: int | None = None) -> None:
        self.settings = settings
        self._on_bytes = on_bytes or (lambda n: None)
        self.transport = Transport(settings, concurrency=concurrency, per_host=per_host)

    async def __aenter__(self) -> Downloader:
        await self.transport.__aenter__()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.transport.__aexit__(et, e, tb)

    def host_stats(self) -> list[HostReport]:
        """What the transport found out about each host (the run report's ``hosts``)."""
        return self.transport.limits.stats()

    async def get(self, url: str, *, headers: Mapping[str, str] | None = None,
                  auth: Auth | None = None, max_bytes: int = 64 * 1024 * 1024,
                  method: str = "GET", content: bytes | None = None,
                  max_retry_after: float | None = None,
                  conditional: Validators | None = None) -> Response:
        """A transient request with retries; the body is read into memory.

        A ``Retry-After`` (or rate-limit reset) beyond ``max_retry_after`` ends the request
        at once instead of being waited for. With ``conditional`` validators, a 304 comes
        back as a response (``not_modified``) instead of an error.
        """
        if conditional:
            headers = {**(headers or {}), **conditional.headers()}
        try:
            return await self.transport.request(url, headers=headers, auth=auth,
                                                max_bytes=max_bytes, method=method,
                                                body=content, max_retry_after=max_retry_after,
                                                not_modified=conditional is not None)
        except (Retryable, Permanent) as exc:
            raise FetchError(url, None, describe(exc), status=exc.status) from None

    async def download(
        self,
        artifact: Artifact,
        target: Path,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        hold_up_to: int = 0,
    ) -> FetchResult:
        """Stream ``artifact`` into ``target``, verified. Raises :class:`FetchError`.

        A body of at most ``hold_up_to`` bytes is not written: it comes back verified in
        :attr:`FetchResult.body`, for a caller that writes it off the event loop. The
        artifact's ``mirrors`` are tried in turn when its ``url`` cannot give the bytes.
        """
        assert artifact.url is not None
        headers = dict(artifact.headers)
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        failures: list[str] = []
        status: int | None = None
        for url in artifact.urls:
            own = not failures or _same_origin(url, artifact.url)
            attempt = functools.partial(self._download_once, artifact, url, target,
                                        headers if own else {}, hold_up_to,
                                        artifact.auth if own else None)
            try:
                return await with_retries(self.settings, url, attempt)
            except (Retryable, Permanent) as exc:
                target.unlink(missing_ok=True)
                status = exc.status
                failures.append(describe(exc) if not failures else f"{url}: {describe(exc)}")
            except BaseException:
                target.unlink(missing_ok=True)
                raise
        if len(failures) == 1:
            raise FetchError(artifact.path, artifact.url, failures[0], status=status)
        raise FetchError(artifact.path, artifact.url,
                         f"{failures[0]}; and from its {len(failures) - 1} other URL(s): "
                         + "; ".join(failures[1:]), status=status)

    async def _download_once(
        self, artifact: Artifact, url: str, target: Path, headers: dict[str, str],
        hold_up_to: int, auth: Auth | None,
    ) -> FetchResult:
        expected = artifact.digest
        async with self.transport.stream(url, headers=headers, auth=auth) as resp:
            if resp.status == 304 and ("If-None-Match" in headers
                                       or "If-Modified-Since" in headers):
                return NOT_MODIFIED
            raise_for_status(resp.status, resp.reason, resp.headers)
            declared = _content_length(resp.headers)
            if artifact.size is not None and declared is not None and declared != artifact.size:
                raise Retryable(f"server announced {declared} bytes, expected {artifact.size}")
            limit = artifact.size
            cap = limit if limit is not None else _cap(artifact, self.settings)
            if declared is not None and cap is not None and declared > cap:
                raise Permanent(f"server announced {declared} bytes, more than the "
                                f"{cap} bytes allowed for this file")
            sha = hashlib.sha256()
            other: Hasher | None = None
            if expected is not None and expected.algorithm != "sha256":
                other = expected.hasher(artifact.size)
            hashers: list[Hasher] = [sha] if other is None else [sha, other]
            also = [(d, d.hasher(artifact.size)) for d in artifact.also
                    if d.algorithm != "sha256"]
            hashers += [h for _, h in also]
            count = 0
            sink = _BodySink(target, hashers)
            held: tuple[bytes, ...] | None = None
            try:
                batch: list[bytes] = []
                batched = 0
                async for chunk in resp.chunks:
                    count += len(chunk)
                    if cap is not None and count > cap:
                        # final, like a cap: another try would write it all again, and the
                        # server that sends more than the index says sends another file
                        if limit is not None:
                            raise Permanent(f"body is larger than the expected {limit} bytes")
                        raise Permanent(f"body is larger than the {cap} bytes allowed for "
                                        "this file")
                    batch.append(chunk)
                    batched += len(chunk)
                    if batched >= BATCH:
                        await anyio.to_thread.run_sync(sink.write, batch)
                        batch, batched = [], 0
                    self._on_bytes(len(chunk))
                if sink.opened:
                    await anyio.to_thread.run_sync(sink.finish, batch)
                elif hold_up_to and count <= hold_up_to:  # written by the caller's thread
                    sink.hash(batch)
                    held = tuple(batch)
                else:  # a body smaller than one batch: cheaper inline than on a thread
                    sink.finish(batch)
            finally:
                sink.close()
            if declared is not None and count < declared:
                raise Retryable(f"truncated body: got {count} of {declared} bytes")
            if limit is not None and count != limit:
                raise Retryable(f"truncated body: got {count} of {limit} bytes")
            sha_hex = sha.hexdigest()
            _check_digest(expected, sha_hex, other)
            for digest, hasher in also:
                _check_digest(digest, sha_hex, hasher)
            for digest in artifact.also:
                if digest.algorithm == "sha256":
                    _check_digest(digest, sha_hex, None)
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
                body=held,
            )


def _cap(artifact: Artifact, settings: TransportSettings) -> int | None:
    """The most bytes a file of unknown size may have: indexes are capped, blobs are not.

    Counted after decompression (aiohttp decodes ``Content-Encoding`` as it receives), so a
    compression bomb stops at the cap however small its compressed form.
    """
    if artifact.max_bytes is not None:
        return artifact.max_bytes
    return settings.index_max_bytes if artifact.kind is Kind.INDEX else None


class _BodySink:
    """Hashes and writes a body in batches.

    A large body's batches go to worker threads (the first one opens the file): hashlib and
    writes release the GIL, so hashing and writing overlap with receiving on the event loop.
    A body smaller than one batch is written inline on completion, one open-write-close,
    which costs less than a trip to a thread of its own; or, when the caller holds it, only
    hashed here and written later with others on the caller's thread.
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
        self.hash(chunks)

    def hash(self, chunks: list[bytes]) -> None:
        """Hash chunks (alone: for a body kept in memory instead of written here)."""
        for data in chunks:
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


def _same_origin(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _content_length(headers: Mapping[str, str]) -> int | None:
    if headers.get("Content-Encoding", "identity") != "identity":
        return None
    value = headers.get("Content-Length")
    if value is None or not value.isdigit():
        return None
    return int(value)


def _check_digest(expected: Digest | None, sha_hex: str, other: Hasher | None) -> None:
    if expected is None:
        return
    got = sha_hex if other is None else other.hexdigest()
    if got != expected.hex:
        raise Retryable(
            f"{expected.algorithm} mismatch: expected {expected.hex}, got {got}"
        )


def _check_response_digest(server_digest: str, sha_hex: str, header: str | None) -> None:
    try:
        announced = Digest.parse(server_digest.strip())
    except ValueError:
        raise Retryable(f"malformed {header} header {server_digest[:100]!r}") from None
    if announced.algorithm == "sha256" and announced.hex != sha_hex:
        raise Retryable(f"{header} says {announced}, body hashes to sha256:{sha_hex}")
