"""The rules every request of a run follows, in one immutable value."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["TransportSettings"]


@dataclass(frozen=True, slots=True)
class TransportSettings:
    """Limits, retries, timeouts and trust for one run's transport.

    ``concurrency`` and ``per_host`` are the requests in flight overall and per host.
    ``min_rate`` (bytes per second, averaged over ``min_rate_window`` seconds) is the total
    deadline of a body besides the idle ``read_timeout``: a server that drips a byte now and
    then never trips an idle timeout, but it does fall under the rate.
    ``index_max_bytes`` caps index files (decompressed: a gzip bomb stops at the cap).
    ``bandwidth_limit`` (bytes per second, None: none) caps what the whole run receives.
    """

    concurrency: int = 16
    per_host: int = 16
    retries: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 300.0
    connect_timeout: float = 15.0
    read_timeout: float = 15.0
    ca_bundle: Path | None = None
    min_rate: float = 1024.0
    min_rate_window: float = 30.0
    #: the most an index file of unknown size may have (decompressed), unless its artifact
    #: says otherwise
    index_max_bytes: int = 2 * 1024**3
    bandwidth_limit: int | None = None
