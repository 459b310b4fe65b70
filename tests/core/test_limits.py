"""Per-host in-flight limits that find their level, against loopback servers with a capacity."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import anyio
import pytest

from mirrorkit.core.run.report import HostReport
from mirrorkit.core.transport import TransportSettings
from mirrorkit.core.transport.client import Transport
from mirrorkit.core.transport.limits import START
from tests.support.cli import run_cli
from tests.support.static_list import publish, run_args
from tests.support.upstream import Handler, Upstream

SETTINGS = TransportSettings(retries=8, backoff_initial=0.01, backoff_max=0.05, read_timeout=5)


class Capacity:
    """A route answering after ``latency`` seconds, with ``503`` beyond ``cap`` at once."""

    def __init__(self, server: Upstream, prefix: str, *, cap: int, latency: float,
                 retry_after: str | None = None, code: int = 503,
                 files: Upstream | None = None) -> None:
        self.cap, self.latency, self.retry_after, self.code = cap, latency, retry_after, code
        self.files = files  # answer with the files this upstream serves, not a filler
        self.busy = self.peak = self.served = self.refused = 0
        self.refused_at: list[float] = []  # monotonic times of each refusal
        self.served_at: list[float] = []  # and of each answer
        self._lock = threading.Lock()
        server.route(prefix, self._handle)

    def _handle(self, req: Handler) -> bool:
        with self._lock:
            full = self.busy >= self.cap
            if full:
                self.refused += 1
                self.refused_at.append(time.monotonic())
            else:
                self.busy += 1
                self.peak = max(self.peak, self.busy)
        if full:
            req.send_body(self.code, b"busy", {"Retry-After": self.retry_after}
                          if self.retry_after else {})
            return True
        try:
            time.sleep(self.latency)
            body = (self.files.files[req.path.split("?")[0]].body if self.files is not None
                    else b"x" * 100)
            req.send_body(200, body)
        finally:
            with self._lock:
                self.busy -= 1
                self.served += 1
                self.served_at.append(time.monotonic())
        return True


def fetch_many(urls: list[str], *, per_host: int | None = None,
               settings: TransportSettings = SETTINGS) -> list[HostReport]:
    async def go() -> list[HostReport]:
        async with Transport(settings, per_host=per_host) as t:
            async with anyio.create_task_group() as tg:
                for url in urls:
                    tg.start_soon(t.request, url)
            return t.limits.stats()

    return anyio.run(go)


def test_the_limit_grows_while_the_host_keeps_up(upstream: Upstream) -> None:
    # 200 ms a request: the client's own delays on a busy machine stay well under the
    # latency that would read as a queue upstream
    roomy = Capacity(upstream, "/f/", cap=1000, latency=0.2)
    [stats] = fetch_many([f"{upstream.url}/f/{i}" for i in range(300)])
    assert stats.refusals == 0 and roomy.served == 300
    assert stats.max_limit >= 3 * START  # slow start doubled it at least once or twice
    assert roomy.peak > 2 * START


def test_the_limit_shrinks_on_503_and_every_request_succeeds(upstream: Upstream) -> None:
    tight = Capacity(upstream, "/f/", cap=4, latency=0.05)
    [stats] = fetch_many([f"{upstream.url}/f/{i}" for i in range(150)])
    assert tight.served == 150  # nothing failed: refused requests were retried
    assert stats.limit <= 5, stats
    assert stats.refusals == tight.refused
    assert tight.refused <= 0.25 * tight.served, (tight.refused, tight.served)


def test_429_shrinks_it_too(upstream: Upstream) -> None:
    count = {"n": 0}

    def limited(req: Handler) -> bool:
        count["n"] += 1
        req.send_body(429 if count["n"] <= 3 else 200, b"slow down")
        return True

    upstream.route("/f/", limited)
    [stats] = fetch_many([f"{upstream.url}/f/{i}" for i in range(20)])
    assert stats.refusals == 3 and stats.limit < START


def test_retry_after_pauses_that_host_only(upstream: Upstream) -> None:
    other = Upstream().start()
    try:
        # a rate limit (429) is about time: the host is paused as asked
        Capacity(upstream, "/f/", cap=1, latency=0.3, retry_after="3", code=429)
        fast = Capacity(other, "/g/", cap=100, latency=0.01)
        finished: dict[str, float] = {}

        async def go() -> list[HostReport]:
            started = time.monotonic()
            async with Transport(SETTINGS) as t:
                async def get(url: str) -> None:
                    await t.request(url)
                    finished[url] = time.monotonic() - started

                async with anyio.create_task_group() as tg:
                    for i in range(3):  # the second and third are refused: a 3 s pause
                        tg.start_soon(get, f"{upstream.url}/f/{i}")
                    await anyio.sleep(0.5)
                    for i in range(20):  # meanwhile the other host is served at once
                        tg.start_soon(get, f"{other.url}/g/{i}")
                return t.limits.stats()

        stats = {s.host.split(":")[1]: s for s in anyio.run(go)}
        paused = stats[str(upstream.port)]
        assert paused.paused_s >= 2.9 and paused.refusals >= 1
        # one of the three got the host's only slot (whichever arrived first); the others
        # were refused, and nothing more went to that host before its Retry-After
        served_first, retried, *_ = sorted(v for k, v in finished.items() if "/f/" in k)
        assert served_first < 3 <= retried
        assert max(v for k, v in finished.items() if "/g/" in k) < retried  # the other went on
        assert fast.served == 20 and stats[str(other.port)].refusals == 0
    finally:
        other.stop()


def test_the_overshoot_ending_slow_start_does_not_stop_the_host(upstream: Upstream) -> None:
    """503s for the requests beyond a host's capacity, at the end of slow start: the cut
    answers them; the refused requests wait their Retry-After, the others go on."""
    tight = Capacity(upstream, "/f/", cap=4, latency=0.1, retry_after="2")
    [stats] = fetch_many([f"{upstream.url}/f/{i}" for i in range(60)])
    assert tight.served == 60 and 0 < tight.refused <= 8
    assert stats.paused_s == 0
    # within the 2 s the refused requests wait, the others are served (a paused host
    # would answer nothing in that window); timed by the server, so a slow client
    # machine does not change what is counted
    first_refusal = tight.refused_at[0]
    meanwhile = [t for t in tight.served_at if first_refusal < t < first_refusal + 1.9]
    assert len(meanwhile) >= 10, (len(meanwhile), tight.served_at, tight.refused_at)


def test_a_pinned_limit_stays_pinned(upstream: Upstream) -> None:
    tight = Capacity(upstream, "/f/", cap=2, latency=0.05)
    # pinned above the host's capacity, a request may be refused many times in a row: enough
    # retries that none runs out (what is asserted is the pin, not the retry budget)
    patient = dataclasses.replace(SETTINGS, retries=100)
    [stats] = fetch_many([f"{upstream.url}/f/{i}" for i in range(40)], per_host=3,
                         settings=patient)
    assert stats.pinned and stats.limit == 3 and stats.max_limit == 3
    assert tight.peak <= 2 and tight.served == 40 and stats.refusals > 0
    roomy = Capacity(upstream, "/g/", cap=100, latency=0.02)
    [stats] = fetch_many([f"{upstream.url}/g/{i}" for i in range(100)], per_host=3)
    assert stats.limit == 3 and roomy.peak <= 3


def test_the_run_reports_what_it_found_per_host(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {f"f{i}.bin": bytes([i]) * 100 for i in range(30)})
    res = run_cli("--log-level", "info", *run_args(upstream, tmp_path / "m", "--json",
                                                   "--metrics-file", str(tmp_path / "m.prom")))
    assert res.code == 0, res.stderr
    [host] = res.json["hosts"]
    assert host["host"] == f"127.0.0.1:{upstream.port}"
    assert host["requests"] == 31 and host["refusals"] == 0 and not host["pinned"]
    assert f"host 127.0.0.1:{upstream.port}: 31 requests, 0 refused, in-flight limit " \
           "settled at" in res.stderr
    prom = (tmp_path / "m.prom").read_text()
    assert (f'mirrorkit_last_run_host_requests{{host="127.0.0.1:{upstream.port}",'
            'mirror="static-list"} 31.0') in prom
    pinned = run_cli(*run_args(upstream, tmp_path / "p", "--json", "--per-host", "2"))
    assert pinned.json["hosts"][0]["pinned"] and pinned.json["hosts"][0]["limit"] == 2


@pytest.mark.parametrize("value", ["0", "auto-ish", "2000"])
def test_concurrency_takes_auto_or_a_number(upstream: Upstream, tmp_path: Path,
                                            value: str) -> None:
    res = run_cli(*run_args(upstream, tmp_path / "m", "--concurrency", value))
    assert res.code == 2
    assert "must be 'auto' or a whole number from 1 to 1024" in res.stderr


def test_a_run_against_a_capacity_limited_cdn_is_not_stopped_by_its_503s(
        upstream: Upstream, tmp_path: Path) -> None:
    """The default run meets a host that serves 4 at once and answers 503 + Retry-After 3
    beyond: the overshoot that ends slow start is refused, those files wait 3 s, and the
    rest of the mirror goes on meanwhile (pausing the host cost every run its Retry-After)."""
    files = {f"f{i:02d}.bin": bytes([i]) * 200 for i in range(48)}
    publish(upstream, files)
    Capacity(upstream, "/repo/files/", cap=4, latency=0.1, retry_after="3", files=upstream)
    res = run_cli(*run_args(upstream, tmp_path / "m", "--json", "--retries", "8"))
    assert res.code == 0, res.stderr
    assert res.json["failed"] == 0 and res.json["downloaded"] == len(files) + 1
    [host] = res.json["hosts"]
    # refused, cut, and never paused: the refused files waited their 3 s on their own
    assert 0 < host["refusals"] <= 0.15 * len(files) and host["paused_s"] == 0
