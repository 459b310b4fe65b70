"""The retry loop every request shares: tenacity's, with ``Retry-After`` before backoff."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import tenacity

from .errors import Permanent, Retryable
from .settings import TransportSettings

__all__ = ["describe", "with_retries"]

log = logging.getLogger("mirrorkit.download")
_T = TypeVar("_T")
#: tries of one request that may end with nothing arriving in time: an upstream that accepts
#: connections and never answers fails after two timeouts (about 2 x ``timeout``), not after
#: every retry, so a mute or unreachable upstream ends a run in well under a minute
SILENT_TRIES = 2


class _WaitRetryAfterOrBackoff(tenacity.wait.wait_base):
    """``Retry-After`` when the server gave one, else full-jitter exponential backoff.

    ``done`` attempts happened before tenacity took over (see :func:`with_retries`), so its
    attempt 1 is the run's attempt ``done + 1``.
    """

    def __init__(self, settings: TransportSettings, done: int = 0) -> None:
        self._cap = settings.max_retry_after
        self._initial = settings.backoff_initial
        self._max = settings.backoff_max
        self._done = done

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return self.after(exc, retry_state.attempt_number + self._done)

    def after(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds to wait after ``attempt`` (1 for the first try) failed with ``exc``."""
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self._cap)
        return random.uniform(0, min(self._max, self._initial * 2 ** (attempt - 1)))


def describe(exc: BaseException) -> str:
    if isinstance(exc, Retryable | Permanent):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"


def _log_retry(url: str, exc: BaseException | None, attempt: int, wait: float) -> None:
    # a silent upstream (timeouts) is said at the default level: an operator watching a
    # run that seems stuck learns which URL it waits for and when the next try comes
    quiet = isinstance(exc, Retryable) and not exc.silent
    log.log(logging.INFO if quiet else logging.WARNING,
            "retrying after %s (attempt %d, next try in %.1fs): %s",
            describe(exc) if exc else "?", attempt, wait, url)


def _bounded_wait(attempt: Callable[[], Awaitable[_T]],
                  longest: float) -> Callable[[], Awaitable[_T]]:
    async def bounded() -> _T:
        try:
            return await attempt()
        except Retryable as exc:
            if exc.retry_after is not None and exc.retry_after > longest:
                raise Permanent(f"{exc.reason} (retry in {exc.retry_after:.0f}s, beyond the "
                                f"{longest:g}s allowed)") from None
            raise
    return bounded


async def with_retries(settings: TransportSettings, url: str,
                       attempt: Callable[[], Awaitable[_T]], *,
                       max_retry_after: float | None = None) -> _T:
    """``attempt()``, tried again after :class:`Retryable` failures, up to ``retries`` times.

    The first try runs outside tenacity: setting up its loop (with its checks of whether
    each callback is a coroutine) was 6% of a small file's CPU, and almost every request
    succeeds at once. After a failure tenacity takes over for the tries that are left,
    starting with the wait that failure calls for. A ``Retry-After`` beyond
    ``max_retry_after`` makes the failure final at once (for a caller with another way to go).
    """
    if max_retry_after is not None:
        attempt = _bounded_wait(attempt, max_retry_after)
    try:
        return await attempt()
    except Retryable as exc:
        if settings.retries == 0:
            raise
        first = exc
    silent = [first.silent]

    def stop(state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        silent.append(isinstance(exc, Retryable) and exc.silent)
        return state.attempt_number >= settings.retries or sum(silent) >= SILENT_TRIES

    wait = _WaitRetryAfterOrBackoff(settings, done=1)
    pause = wait.after(first, 1)
    _log_retry(url, first, 1, pause)
    await anyio.sleep(pause)
    retrying = tenacity.AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception_type(Retryable),
        reraise=True,
        before_sleep=lambda state: _log_retry(
            url, state.outcome.exception() if state.outcome else None,
            state.attempt_number + 1,
            state.next_action.sleep if state.next_action else 0.0),
    )
    async for try_ in retrying:
        with try_:
            return await attempt()
    raise AssertionError("unreachable")  # pragma: no cover
