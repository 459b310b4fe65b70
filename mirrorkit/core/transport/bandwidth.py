"""A run-wide cap on the bytes received per second (``--bandwidth-limit``).

Operators share a WAN link or a data diode with other traffic (rclone's ``--bwlimit``,
aria2's ``--max-overall-download-limit``, apt-mirror's ``limit_rate``). One token bucket per
run is shared by every body of every host, so the cap holds whatever the concurrency.
"""

from __future__ import annotations

import time

import anyio

__all__ = ["Bandwidth"]


class Bandwidth:
    """Bytes may arrive at ``rate`` per second on average, with one second's worth at once.

    A body takes what it received from the bucket; when that leaves the bucket in debt, the
    body waits until the debt is paid before reading on, which back-pressures the socket
    (aiohttp stops reading when its buffer is full). The lock makes waiting bodies queue.
    """

    def __init__(self, rate: int) -> None:
        if rate <= 0:
            raise ValueError("a bandwidth limit must be positive")
        self.rate = float(rate)
        self._tokens = self.rate
        self._last = time.monotonic()
        self._lock = anyio.Lock()

    async def take(self, count: int) -> float:
        """Account ``count`` received bytes; returns the seconds this body was held back."""
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= count
            if self._tokens >= 0:
                return 0.0
            wait = -self._tokens / self.rate
            await anyio.sleep(wait)
            return wait
