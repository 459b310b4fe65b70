"""The run pipeline as a library: in-process and async, against the real loopback upstream.

``run_mirror`` is what ``mirrorkit run`` calls; these tests drive it directly on the test's
own event loop (anyio's pytest plugin), which is how a program embedding mirrorkit runs it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from mirrorkit.api import Artifact, PlanContext, RunReport, hookimpl
from mirrorkit.core.plugin.host import load_plugins
from mirrorkit.core.run.pipeline import DestinationError, mirror_from_options, run_mirror
from mirrorkit.core.store.lock import MirrorLock, MirrorLocked
from tests.support.static_list import index_url, publish
from tests.support.trees import mirror_tree
from tests.support.upstream import Handler, Upstream

pytestmark = pytest.mark.anyio

FILES = {"a/one.bin": b"1" * 1000, "b/two.bin": b"2" * 20}
FAST = {"backoff_initial": 0.01, "backoff_max": 0.05, "timeout": 5, "retries": 1}


class Recorder:
    """A plugin object: what ``mirrorkit_run_finished`` was called with."""

    def __init__(self) -> None:
        self.reports: list[RunReport] = []

    @hookimpl
    def mirrorkit_run_finished(self, report: RunReport) -> None:
        self.reports.append(report)


def _mirror(upstream: Upstream, dest: Path, host: Any, **extra: Any) -> Any:
    settings = {**FAST, **extra.pop("settings", {})}
    return mirror_from_options("static-list", host=host, dest=dest,
                               index_url=index_url(upstream), settings=settings, **extra)


async def test_run_then_noop_then_change(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, FILES)
    recorder = Recorder()
    host = load_plugins(recorder)
    dest = tmp_path / "m"
    first = await run_mirror(_mirror(upstream, dest, host), host=host)
    assert first.status == "ok" and first.downloaded == 3
    assert set(mirror_tree(dest)) == {"a/one.bin", "b/two.bin", "index.json"}
    upstream.clear_log()
    again = await run_mirror(_mirror(upstream, dest, host), host=host)
    assert again.downloaded == 0 and again.changes == []
    assert upstream.requests("/repo/files/") == []  # a no-op asks for the index only
    publish(upstream, {"a/one.bin": b"changed", "c.bin": b"c"})
    third = await run_mirror(_mirror(upstream, dest, host), host=host)
    assert {(c.path, c.reason) for c in third.changes} == {
        ("a/one.bin", "changed"), ("b/two.bin", "removed"), ("c.bin", "new"),
        ("index.json", "changed")}
    assert not (dest / "b/two.bin").exists()
    assert [r.snapshot for r in recorder.reports] == [first.snapshot, again.snapshot,
                                                      third.snapshot]


async def test_dry_run_writes_nothing_and_lists_the_run(upstream: Upstream,
                                                         tmp_path: Path) -> None:
    publish(upstream, FILES)
    host = load_plugins()
    dest = tmp_path / "m"
    plan = await run_mirror(_mirror(upstream, dest, host), host=host, dry_run=True)
    assert not dest.exists() and plan.dry_run
    assert upstream.requests("/repo/files/") == []
    run = await run_mirror(_mirror(upstream, dest, host), host=host)
    assert {(c.path, c.size) for c in plan.changes} == {(c.path, c.size) for c in run.changes}


async def test_failed_file_keeps_the_previous_snapshot(upstream: Upstream,
                                                       tmp_path: Path) -> None:
    publish(upstream, FILES)
    host = load_plugins()
    dest = tmp_path / "m"
    await run_mirror(_mirror(upstream, dest, host), host=host)
    before = mirror_tree(dest)
    publish(upstream, {**FILES, "c.bin": b"c"}, wrong_sha={"c.bin"})
    report = await run_mirror(_mirror(upstream, dest, host), host=host)
    assert report.status == "failed" and [e.path for e in report.errors] == ["c.bin"]
    assert mirror_tree(dest) == before


async def test_notifications_and_metrics_after_the_run(upstream: Upstream,
                                                       tmp_path: Path) -> None:
    publish(upstream, FILES)
    posted: list[dict[str, Any]] = []

    def hook(req: Handler) -> bool:
        posted.append(json.loads(req.request_body))
        req.send_body(200, b"ok")
        return True

    upstream.route("/hook", hook)
    host = load_plugins()
    metrics = tmp_path / "mirrorkit.prom"
    mirror = _mirror(upstream, tmp_path / "m", host, settings={"metrics_file": str(metrics)},
                     notify=[{"type": "webhook", "url": upstream.url + "/hook",
                              "on": "always"}])
    report = await run_mirror(mirror, host=host)
    assert report.status == "ok"
    assert [p["status"] for p in posted] == ["ok"]
    assert "changes" not in posted[0]["report"]  # the file list stays out of alerts
    assert any(line.startswith("notify 0:webhook: ok") for line in report.notices)
    assert 'mirrorkit_last_run_success{mirror="static-list"} 1.0' in metrics.read_text()


async def test_refusals_are_exceptions_before_anything_happens(upstream: Upstream,
                                                               tmp_path: Path) -> None:
    publish(upstream, FILES)
    host = load_plugins()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DestinationError, match="Not a directory"):
        await run_mirror(_mirror(upstream, tmp_path / "afile" / "sub", host), host=host)
    dest = tmp_path / "m"
    dest.mkdir()
    with MirrorLock(dest, "another run"), pytest.raises(MirrorLocked, match="another run"):
        await run_mirror(_mirror(upstream, dest, host), host=host)
    assert upstream.requests() == []


class _YieldThenFetch:
    """A registry that yields a file, then at once asks for its bytes through ``ctx.fetch``
    (as a planner does when a yielded index decides what comes next)."""

    name = "yield-then-fetch"
    summary = "test registry"

    class Options(BaseModel):
        url: str
        sha256: str

    async def plan(self, options: Any, ctx: PlanContext) -> AsyncIterator[Artifact]:
        art = Artifact.blob("data/first.bin", options.url, sha256=options.sha256)
        yield art
        body = (await ctx.fetch(art)).read_bytes()
        yield Artifact.blob("data/second.bin", options.url, sha256=hashlib.sha256(body).hexdigest())


class _YieldThenFetchPlugin:
    @hookimpl
    def mirrorkit_add_registries(self, registries: Any) -> None:
        registries.add(_YieldThenFetch)


async def test_fetch_of_a_file_yielded_but_not_started_waits_for_it(
        upstream: Upstream, tmp_path: Path) -> None:
    body = b"x" * 5000
    upstream.add("/f.bin", body)
    host = load_plugins(_YieldThenFetchPlugin())
    mirror = mirror_from_options("yield-then-fetch", host=host, dest=tmp_path / "m",
                                 url=upstream.url + "/f.bin",
                                 sha256=hashlib.sha256(body).hexdigest(), settings=FAST)
    report = await run_mirror(mirror, host=host)
    assert report.status == "ok", report.errors
    assert (tmp_path / "m/data/first.bin").read_bytes() == body
    assert (tmp_path / "m/data/second.bin").read_bytes() == body
    assert len(upstream.requests("/f.bin")) == 2  # one per file, the first not fetched twice


async def test_small_new_files_wait_in_memory_within_the_bound(
        upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small new bodies are written by the early commits' thread; the bytes waiting in
    memory stay under the bound, and past it bodies are written at once: either way every
    file lands whole."""
    from mirrorkit.core.fetch import early_commit, fetcher

    files = {f"p/{i:03d}/f.bin": bytes([i % 251]) * (3000 + i) for i in range(150)}
    publish(upstream, files)
    limit = 40_000
    monkeypatch.setattr(fetcher, "HOLD_LIMIT", limit)
    peak = [0, 0]  # most bytes held at once, bodies that came held
    queue = early_commit.EarlyCommits.queue

    def watch(self: early_commit.EarlyCommits, item: early_commit.Pending) -> None:
        queue(self, item)
        peak[0] = max(peak[0], self.held)
        peak[1] += item.body is not None

    monkeypatch.setattr(early_commit.EarlyCommits, "queue", watch)
    host = load_plugins()
    dest = tmp_path / "m"
    report = await run_mirror(_mirror(upstream, dest, host, settings={"concurrency": 32}),
                              host=host)
    assert report.status == "ok", report.errors
    assert 0 < peak[1] < len(files)  # some held, some written at once past the bound
    assert peak[0] < limit + max(map(len, files.values()))
    tree = mirror_tree(dest)
    assert {p: tree[p] for p in files} == {
        p: hashlib.sha256(b).hexdigest() for p, b in files.items()}
