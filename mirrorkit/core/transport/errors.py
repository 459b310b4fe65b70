"""How a failed request is sorted: another try may succeed, or no try can (``Permanent``)."""

from __future__ import annotations

import email.utils
import functools
import time
from collections.abc import Mapping

__all__ = ["Permanent", "Retryable", "http_date_to_epoch", "raise_for_status",
           "retry_after_seconds"]


class Retryable(Exception):
    """Connection errors, timeouts, 5xx, 429, truncated or wrong bodies."""

    def __init__(self, reason: str, retry_after: float | None = None, *,
                 refused: bool = False, silent: bool = False,
                 unreachable: bool = False, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: the HTTP status that made the request fail, None for anything else
        self.status = status
        self.retry_after = retry_after
        #: the server said "too many" (429, 503) or hung up: the host's limit shrinks
        self.refused = refused
        #: nothing arrived in time (a timeout, a drip): said on stderr, tried fewer times
        self.silent = silent
        #: no connection could be opened (refused, no route, unknown host, connect timeout):
        #: a host that opens none for the connect timeout is given up on (``Transport``)
        self.unreachable = unreachable


class Permanent(Exception):
    """4xx, invalid URLs, redirect loops: no retry can fix these."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: the HTTP status that made the request fail, None for anything else
        self.status = status


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


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = http_date_to_epoch(value)
    return None if when is None else max(0.0, when - time.time())


def _rate_limit_reset_wait(value: str | None) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (epoch seconds, as GitHub and others send it)."""
    if not value or not value.strip().isdigit():
        return None
    return max(0.0, float(value.strip()) - time.time()) + 1.0


def raise_for_status(code: int, reason: str, headers: Mapping[str, str]) -> None:
    if code < 300:
        return
    if code in (403, 429) and headers.get("X-RateLimit-Remaining", "").strip() == "0":
        # An exhausted API rate limit (GitHub answers 403): wait for the reset, then retry.
        wait = retry_after_seconds(headers.get("Retry-After"))
        raise Retryable(
            f"HTTP {code} rate limit exceeded",
            retry_after=wait if wait is not None else _rate_limit_reset_wait(
                headers.get("X-RateLimit-Reset")),
            refused=True,
            status=code,
        )
    if code == 429 or code >= 500 or code == 408:
        raise Retryable(
            f"HTTP {code} {reason}".rstrip(),
            retry_after=retry_after_seconds(headers.get("Retry-After")),
            refused=code in (429, 503),
            status=code,
        )
    raise Permanent(f"HTTP {code} {reason}".rstrip(), status=code)
