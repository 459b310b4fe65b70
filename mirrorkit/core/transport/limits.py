"""How many requests are in flight: one global cap, and a limit per host that finds its level.

A host's limit is either pinned (a number from ``--per-host``) or adaptive (``auto``). The
adaptive limit works like TCP's congestion window, counted in requests instead of bytes:

- **slow start**: from a small start, every answered request while the limit is in use adds
  one, so the limit doubles per round trip until the host first says "too many";
- **refusals** (429, 503, connection resets, timeouts) cut it: by half on leaving slow start
  (which overshoots by at most a factor of two), by a fifth afterwards, once per round
  trip (answers to requests sent before the last cut do not cut again);
- **congestion avoidance**: afterwards it grows by one per round trip, and above a level
  that was refused before only by one probe per ``probe interval``, which doubles with each
  refused probe: a host with a hard cap sees a handful of refused requests in a run, not one
  per round trip;
- **latency**: when the time to the first byte rises well above the lowest seen (queueing
  at the server), the limit is cut as on a refusal;
- ``Retry-After`` is read as HTTP defines it: on a rate limit (429, or a 403 that says the
  rate limit is used up) it is how long to wait before any new request, so that host is
  paused (other hosts go on); on a 503 it is how long to wait before trying *that* request
  again, so the refused request waits it out while the host goes on at the cut limit,
  instead of standing idle for the overshoot that ends every slow start.

AIMD (additive increase, multiplicative decrease) was chosen over a gradient limiter
(Netflix's concurrency-limits) because the upstreams here signal overload explicitly (503 +
``Retry-After``) far more often than through latency, and because a gradient needs a
stable latency sample per request, which a mix of 20-byte manifests and 1 GB blobs does not
give; latency still cuts the limit, as a second signal.
"""

from __future__ import annotations

import asyncio
import collections
import time

from ..run.report import HostReport

__all__ = ["GlobalLimit", "HostLimit", "Limits"]

#: adaptive limits start here (slow start doubles it per round trip)
START = 8
#: the adaptive range per host: never below FLOOR, never above the ceiling given
FLOOR = 1
DEFAULT_CEILING = 64
#: the global cap when ``--concurrency`` is ``auto``
DEFAULT_GLOBAL = 256
#: first wait before probing above a level that was refused (doubles per refused probe)
PROBE_INTERVAL = 2.0
#: a smoothed time-to-first-byte this many times the lowest seen means a queue upstream
LATENCY_FACTOR = 3.0
LATENCY_SLACK = 0.05  # seconds: loopback latencies of a few ms vary by more than 3x
#: refusals whose Retry-After applies to every new request to the host (rate limits)
RATE_LIMITED = frozenset({429, 403})


class HostLimit:
    """The in-flight limit of one host; acquire before a request, release after its body."""

    def __init__(self, host: str, *, pinned: int | None, ceiling: int) -> None:
        self.host = host
        self.pinned = pinned is not None
        self.ceiling = pinned if pinned is not None else max(FLOOR, ceiling)
        self.limit = float(pinned if pinned is not None else min(START, self.ceiling))
        self.max_limit = int(self.limit)
        self._slow_start = not self.pinned
        self._in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._paused_until = 0.0
        self._paused_total = 0.0
        self._wake_handle: asyncio.TimerHandle | None = None
        self._last_cut = 0.0
        self._refused_level = float("inf")  # lowest limit a refusal was seen at
        self._probe_interval = PROBE_INTERVAL
        self._next_probe = 0.0
        self._min_latency = float("inf")
        self._srtt = 0.0
        self.requests = 0
        self.refusals = 0

    # ------------------------------------------------------------ slots
    async def acquire(self) -> float:
        """Wait for a slot; returns the time the request may be sent (give it to release)."""
        if (not self._waiters and self._in_flight < self.limit
                and self._paused_until <= time.monotonic()):
            self._in_flight += 1
            self.requests += 1
            return time.monotonic()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake()
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._in_flight -= 1  # granted, then cancelled before use: give it back
                self._wake()
            else:
                fut.cancel()
            raise
        self.requests += 1
        return time.monotonic()

    def release(self, sent: float, *, latency: float | None = None, refused: bool = False,
                retry_after: float | None = None, status: int | None = None) -> None:
        """Give the slot back, with what the request told about the host.

        ``latency`` (seconds to the response headers) for an answer, ``refused`` for a 429,
        503, reset or timeout, neither for other outcomes (a 404 says nothing about load);
        ``status``: the HTTP status of a refusal, when there was one.
        """
        self._in_flight -= 1
        if refused:
            self.refusals += 1
            if not self.pinned:
                self._cut(sent)
            if retry_after is not None and retry_after > 0 and status in RATE_LIMITED:
                self.pause(retry_after)
        elif latency is not None and not self.pinned:
            self._grow(sent, latency)
        self._wake()

    def pause(self, seconds: float) -> None:
        """No new request to this host for ``seconds`` (a server's ``Retry-After``)."""
        now = time.monotonic()
        until = now + seconds
        if until > self._paused_until:
            self._paused_total += until - max(now, self._paused_until)
            self._paused_until = until
            if self._wake_handle is not None:
                self._wake_handle.cancel()
            self._wake_handle = asyncio.get_running_loop().call_at(
                asyncio.get_running_loop().time() + seconds, self._wake)

    def _wake(self) -> None:
        if self._paused_until > time.monotonic():
            return
        while self._waiters and self._in_flight < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self._in_flight += 1
                fut.set_result(None)

    # ------------------------------------------------------------ adapting
    def _cut(self, sent: float) -> None:
        if sent < self._last_cut:
            return  # sent before the last cut: that cut already answered this load
        now = time.monotonic()
        level = self.limit
        if self._slow_start:
            self._slow_start = False
            self.limit = max(FLOOR, level / 2)
        else:
            self.limit = max(FLOOR, level * 0.8)
            if level >= self._refused_level:  # a refused probe: probe more rarely
                self._probe_interval *= 2
        self._refused_level = min(self._refused_level, level)
        self._next_probe = now + self._probe_interval
        self._last_cut = now

    def _grow(self, sent: float, latency: float) -> None:
        self._min_latency = min(self._min_latency, latency)
        self._srtt = latency if not self._srtt else self._srtt * 0.9 + latency * 0.1
        if (self._srtt > self._min_latency * LATENCY_FACTOR + LATENCY_SLACK
                and sent >= self._last_cut + self._srtt):
            self._slow_start = False
            self._cut(sent)
            return
        if self._in_flight + 1 < self.limit - 1 and not self._waiters:
            return  # the limit is not what holds requests back: no reason to raise it
        if self._slow_start:
            self.limit = min(self.ceiling, self.limit + 1)
        else:
            step = 1 / self.limit
            if self.limit + step >= self._refused_level - 1:
                now = time.monotonic()
                if now < self._next_probe:
                    return
                self._next_probe = now + self._probe_interval
                step = 1.0
            self.limit = min(self.ceiling, self.limit + step)
        self.max_limit = max(self.max_limit, int(self.limit))

    def stats(self) -> HostReport:
        return HostReport(host=self.host, limit=int(self.limit), pinned=self.pinned,
                         max_limit=self.max_limit, requests=self.requests,
                         refusals=self.refusals, paused_s=round(self._paused_total, 3))


class GlobalLimit:
    """The cap on requests in flight over all hosts: a plain counting slot."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._sem = asyncio.Semaphore(size)

    async def acquire(self) -> None:
        await self._sem.acquire()

    def release(self) -> None:
        self._sem.release()


class Limits:
    """The run's limits: the global cap and one :class:`HostLimit` per host (by origin)."""

    def __init__(self, *, concurrency: int | None, per_host: int | None) -> None:
        self.concurrency = concurrency if concurrency is not None else DEFAULT_GLOBAL
        self.request = GlobalLimit(self.concurrency)
        self._per_host = per_host
        self._ceiling = min(DEFAULT_CEILING, self.concurrency)
        self._by_origin: dict[str, HostLimit] = {}

    def host(self, origin: str) -> HostLimit:
        limit = self._by_origin.get(origin)
        if limit is None:
            # the host as reports show it: never the userinfo of a user:token@host URL
            name = (origin.partition("//")[2] or origin).rpartition("@")[2]
            limit = self._by_origin[origin] = HostLimit(name, pinned=self._per_host,
                                                        ceiling=self._ceiling)
        return limit

    def stats(self) -> list[HostReport]:
        return [h.stats() for h in self._by_origin.values()]
