"""A chaos upstream: the loopback test server, failing at random with configurable rates.

Every request under a chaos prefix draws one fault (or none) from a seeded RNG, so a
failing run can be replayed with its seed. ``max_streak`` bounds how many requests in a
row one path may fail, so a run with more retries than that always converges: the tests
then prove that faults cost time, never data. Counters record what was injected, for the
figures in docs/reliability.md. Paths in ``unverifiable`` (an index that upstream publishes
without a digest) are never served wrong bytes: nothing could tell them from a new index,
and that case belongs to the hostile-input tests.
"""

from __future__ import annotations

import random
import sys
import threading
import traceback
from collections import Counter
from dataclasses import dataclass

from tests.support.upstream import Fault, Upstream

__all__ = ["ChaosRates", "ChaosUpstream"]


@dataclass
class ChaosRates:
    """Probability of each fault per request (their sum must stay below 1)."""

    status_5xx: float = 0.0  # 500, 502 or 503
    status_429: float = 0.0  # 429 with a short Retry-After
    reset: float = 0.0  # TCP reset before any response
    truncate: float = 0.0  # headers promise N bytes, the body stops half way
    stall: float = 0.0  # no response until after the client's read timeout
    corrupt: float = 0.0  # a 200 with wrong bytes (the digest check must catch it)
    drip: float = 0.0  # the right bytes, slowly (1 KiB at a time)
    stall_seconds: float = 2.0
    drip_seconds: float = 0.002  # pause per KiB of a dripped body

    def kinds(self) -> list[tuple[str, float]]:
        return [("5xx", self.status_5xx), ("429", self.status_429), ("reset", self.reset),
                ("truncate", self.truncate), ("stall", self.stall),
                ("corrupt", self.corrupt), ("drip", self.drip)]

    def total(self) -> float:
        return sum(rate for _, rate in self.kinds())

    @classmethod
    def moderate(cls, *, timeout: float) -> ChaosRates:
        """About a third of requests go wrong, every kind represented."""
        return cls(status_5xx=0.08, status_429=0.04, reset=0.04, truncate=0.05, stall=0.02,
                   corrupt=0.05, drip=0.10, stall_seconds=timeout + 0.5)


class ChaosUpstream(Upstream):
    """An :class:`Upstream` that also injects random faults under ``prefixes``."""

    def __init__(self, rates: ChaosRates, *, seed: int = 0, prefixes: tuple[str, ...] = ("/",),
                 max_streak: int = 3, unverifiable: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.rates = rates
        self.seed = seed
        self.prefixes = prefixes
        self.max_streak = max_streak
        self.unverifiable = unverifiable
        self.rng = random.Random(seed)
        self.enabled = True
        self.injected: Counter[str] = Counter()
        self.requests_seen = 0
        self._streaks: Counter[str] = Counter()
        self._chaos_lock = threading.Lock()
        self._server.handle_error = self._quiet_error  # type: ignore[method-assign]

    @staticmethod
    def _quiet_error(request: object, client_address: object) -> None:
        """A client that gave up (timeout, kill -9) is the point here, not news."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            traceback.print_exc()

    def take_fault(self, path: str) -> Fault | None:
        queued = super().take_fault(path)
        if queued is not None:
            return queued
        if not self.enabled or not path.startswith(self.prefixes):
            return None
        with self._chaos_lock:
            self.requests_seen += 1
            if self._streaks[path] >= self.max_streak:
                self._streaks[path] = 0
                return None
            kind = self._draw()
            if kind == "corrupt" and path in self.unverifiable:
                kind = None  # wrong bytes with no digest to catch them: a hostile upstream
            if kind is None or kind == "drip":
                self._streaks[path] = 0
            else:
                self._streaks[path] += 1
            if kind is not None:
                self.injected[kind] += 1
            return self._fault(kind)

    def _draw(self) -> str | None:
        roll = self.rng.random()
        for kind, rate in self.rates.kinds():
            if roll < rate:
                return kind
            roll -= rate
        return None

    def _fault(self, kind: str | None) -> Fault | None:
        r = self.rates
        if kind is None:
            return None
        if kind == "5xx":
            return Fault("status", code=self.rng.choice((500, 502, 503)))
        if kind == "429":
            return Fault("status", code=429, retry_after="1")
        if kind == "stall":
            return Fault("stall", seconds=r.stall_seconds)
        if kind == "drip":
            return Fault("drip", seconds=r.drip_seconds)
        return Fault(kind)  # reset, truncate, corrupt
