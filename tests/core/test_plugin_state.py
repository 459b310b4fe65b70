"""Plugin state saved with the snapshot, the plan record, and the context's newer calls.

A small registry defined here uses the public API only (``mirrorkit.api``) and runs through
the same pipeline as ``mirrorkit run`` (``mirrorkit.testing``), into a tree and into a bucket.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from mirrorkit.api import (
    Artifact,
    FetchError,
    PlanContext,
    RegistryCollection,
    Validators,
    hookimpl,
)
from mirrorkit.testing import run_mirror_for_test
from tests.support.cli import run_cli
from tests.support.s3 import new_bucket
from tests.support.static_list import publish, run_args
from tests.support.upstream import Upstream


class CountingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str
    plan_once: bool = True
    probe: str = ""


class Counting:
    """Mirrors ``list.txt`` (one file name per line) and counts its runs in plugin state."""

    name = "counting"
    summary = "test registry"
    Options = CountingOptions

    async def plan(self, options: CountingOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        listing = await ctx.fetch(Artifact.index("list.txt", f"{options.base_url}/list.txt"))
        runs = await ctx.state.read_json("runs.json", version=1) or 0
        ctx.note("runs_before", runs)
        ctx.note("list_changed", listing.changed)
        ctx.state.write_json("runs.json", runs + 1, version=1)
        if options.probe:
            etag = await ctx.state.read_bytes("etag")
            try:
                resp = await ctx.get(f"{options.base_url}/{options.probe}",
                                     conditional=Validators(etag.decode()) if etag else None)
                ctx.note("probe", "not modified" if resp.not_modified else "new")
                if resp.validators.etag:
                    ctx.state.write_bytes("etag", resp.validators.etag.encode())
            except FetchError as exc:
                ctx.note("probe", exc.status)
        if options.plan_once and ctx.keep_previous_plan():
            ctx.note("kept_plan", True)
            return
        names = listing.read_text().split()
        arts = [Artifact.blob(f"files/{n}", f"{options.base_url}/files/{n}", immutable=True)
                for n in names]
        read = []
        async for art, got in ctx.fetch_all(arts):
            read.append([art.path, None if isinstance(got, FetchError) else got.sha256,
                         got.status if isinstance(got, FetchError) else None])
        ctx.note("read", read)
        return
        yield  # an async generator: its files are planned by fetch_all


@hookimpl
def mirrorkit_add_registries(registries: RegistryCollection) -> None:
    registries.add(Counting)


PLUGIN = types.ModuleType("counting_plugin")
PLUGIN.mirrorkit_add_registries = mirrorkit_add_registries  # type: ignore[attr-defined]
sys.modules[PLUGIN.__name__] = PLUGIN


def serve(upstream: Upstream, files: dict[str, bytes]) -> None:
    upstream.add("/list.txt", "\n".join(files).encode())
    for name, body in files.items():
        upstream.add(f"/files/{name}", body)


def run(dest: Path | str, upstream: Upstream, **options: Any) -> Any:
    return run_mirror_for_test("counting", dest, plugins=[PLUGIN],
                               base_url=upstream.url, **options)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".mirrorkit" not in p.relative_to(root).parts}


def test_state_survives_between_runs_and_is_saved_with_the_snapshot(
        upstream: Upstream, tmp_path: Path) -> None:
    serve(upstream, {"a": b"A" * 100, "b": b"B" * 200})
    dest = tmp_path / "mirror"
    first = run(dest, upstream, plan_once=False)
    assert first.status == "ok", first.errors
    assert first.notes["runs_before"] == 0
    second = run(dest, upstream, plan_once=False)
    assert second.notes["runs_before"] == 1
    manifest = json.loads((dest / ".mirrorkit/manifest.json").read_bytes())
    ref = manifest["state"]["plugin/runs.json"]
    stored = dest / ".mirrorkit/state" / ref["sha256"]
    assert json.loads(stored.read_bytes()) == {"version": 1, "value": 2}
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == ref["sha256"]
    # the version of the first run is still named by the first snapshot's manifest copy;
    # nothing else is kept
    named = {ref["sha256"]}
    for snap in (dest / ".mirrorkit/snapshots").glob("*.json"):
        named |= {r["sha256"] for r in json.loads(snap.read_bytes()).get("state", {}).values()}
    assert {p.name for p in (dest / ".mirrorkit/state").iterdir()} == named
    # each kept snapshot's head (what unused state is judged by) goes with its snapshot
    snaps = dest / ".mirrorkit/snapshots"
    assert ({p.name for p in (snaps / "heads").iterdir()}
            == {p.name for p in snaps.glob("*.json")})


def test_a_dry_run_reads_state_and_saves_none(upstream: Upstream, tmp_path: Path) -> None:
    serve(upstream, {"a": b"A"})
    dest = tmp_path / "mirror"
    run(dest, upstream, plan_once=False)
    before = (dest / ".mirrorkit/manifest.json").read_bytes()
    dry = run(dest, upstream, plan_once=False, dry_run=True)
    assert dry.notes["runs_before"] == 1
    assert (dest / ".mirrorkit/manifest.json").read_bytes() == before
    assert run(dest, upstream, plan_once=False).notes["runs_before"] == 1


def test_a_failed_run_leaves_the_snapshot_and_its_state_as_they_were(
        upstream: Upstream, tmp_path: Path) -> None:
    serve(upstream, {"a": b"A"})
    dest = tmp_path / "mirror"
    run(dest, upstream, plan_once=False)
    manifest = (dest / ".mirrorkit/manifest.json").read_bytes()
    tree = tree_bytes(dest)
    upstream.add("/list.txt", b"a\nmissing")
    failed = run(dest, upstream, plan_once=False)
    assert failed.status == "failed"
    assert tree_bytes(dest) == tree  # the old list.txt is still served
    assert (dest / ".mirrorkit/manifest.json").read_bytes() == manifest
    assert run(dest, upstream, plan_once=False).notes["runs_before"] == 1


def test_an_unchanged_plan_is_kept_without_planning_again(
        upstream: Upstream, tmp_path: Path) -> None:
    files = {f"f{i}": bytes([i]) * 1000 for i in range(20)}
    serve(upstream, files)
    dest = tmp_path / "mirror"
    first = run(dest, upstream)
    assert first.status == "ok" and "kept_plan" not in first.notes
    snapshot = first.snapshot
    upstream.clear_log()
    second = run(dest, upstream)
    assert second.status == "ok"
    assert second.notes["kept_plan"] is True and second.kept_plan
    assert second.snapshot == snapshot and second.files == len(files) + 1
    assert second.changes == [] and second.downloaded == 0
    assert [r.path for r in upstream.requests()] == ["/list.txt"]  # one conditional request

    # a changed input plans again, and only what is new is fetched
    files["g"] = b"added"
    serve(upstream, files)
    upstream.clear_log()
    third = run(dest, upstream)
    assert "kept_plan" not in third.notes and third.notes["list_changed"] is True
    assert third.snapshot != snapshot
    assert [r.path for r in upstream.requests("/files/")] == ["/files/g"]
    assert (dest / "files/g").read_bytes() == b"added"

    # other options than the record's: planned again
    fourth = run(dest, upstream, probe="list.txt")
    assert "kept_plan" not in fourth.notes


def test_fetch_all_gives_each_result_in_order_with_its_status(
        upstream: Upstream, tmp_path: Path) -> None:
    serve(upstream, {"a": b"A", "b": b"B"})
    upstream.add("/list.txt", b"a\ngone\nb")
    report = run(tmp_path / "mirror", upstream, plan_once=False)
    assert report.status == "failed"
    sha = {k: hashlib.sha256(v).hexdigest() for k, v in {"a": b"A", "b": b"B"}.items()}
    assert report.notes["read"] == [["files/a", sha["a"], None], ["files/gone", None, 404],
                                    ["files/b", sha["b"], None]]
    gone = next(e for e in report.errors if e.path == "files/gone")
    assert gone.status == 404


def test_conditional_get_and_fetch_error_status(upstream: Upstream, tmp_path: Path) -> None:
    serve(upstream, {"a": b"A"})
    upstream.add("/probe.json", b"{}")
    dest = tmp_path / "mirror"
    assert run(dest, upstream, plan_once=False, probe="probe.json").notes["probe"] == "new"
    assert (run(dest, upstream, plan_once=False, probe="probe.json").notes["probe"]
            == "not modified")
    assert run(dest, upstream, plan_once=False, probe="nothing").notes["probe"] == 404


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    return f"s3://{new_bucket('state')}/mirror"


def test_state_and_the_plan_record_live_in_the_bucket(
        upstream: Upstream, bucket: str) -> None:
    serve(upstream, {"a": b"A" * 10, "b": b"B" * 10})
    first = run(bucket, upstream)
    assert first.status == "ok", first.errors
    upstream.clear_log()
    second = run(bucket, upstream)
    assert second.notes["runs_before"] == 1
    assert second.notes["kept_plan"] is True
    assert [r.path for r in upstream.requests()] == ["/list.txt"]


def test_static_list_noop_through_the_cli_is_one_request(
        upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {f"pool/p{i}.bin": bytes([i]) * 5000 for i in range(30)})
    dest = tmp_path / "mirror"
    assert run_cli(*run_args(upstream, dest)).code == 0
    (dest / "pool/p3.bin").unlink()  # a damaged tree: verify finds it, a no-op does not look
    upstream.clear_log()
    res = run_cli(*run_args(upstream, dest, "--json"))
    assert res.code == 0, res.stderr
    assert res.json["skipped"] == 31 and res.json["downloaded"] == 0 and res.json["kept_plan"]
    assert [r.path for r in upstream.requests()] == ["/repo/index.json"]
    assert run_cli("verify", dest).code == 1


def test_an_input_answered_304_is_the_body_it_was_before(
        upstream: Upstream, tmp_path: Path) -> None:
    """A conditional ctx.get answered 304 reads as the body those validators came with, so
    an unchanged input keeps the plan whether upstream sent it again or not."""
    serve(upstream, {"a": b"A"})
    upstream.add("/probe.json", b'{"serial": 1}')
    dest = tmp_path / "mirror"
    first = run(dest, upstream, probe="probe.json")
    assert first.notes["probe"] == "new" and not first.kept_plan
    second = run(dest, upstream, probe="probe.json")
    assert second.notes["probe"] == "not modified" and second.kept_plan
    upstream.add("/probe.json", b'{"serial": 2}')
    third = run(dest, upstream, probe="probe.json")
    assert third.notes["probe"] == "new" and not third.kept_plan


def test_a_kept_plan_reads_the_head_only_when_it_belongs_to_the_manifest(
        upstream: Upstream, tmp_path: Path) -> None:
    """The head (``manifest.head.json``) is written before the manifest; a run killed between
    the two leaves a head of another generation, which the next run must not trust."""
    files = {f"f{i}": bytes([i]) * 100 for i in range(5)}
    serve(upstream, files)
    dest = tmp_path / "mirror"
    assert run(dest, upstream).status == "ok"
    head = dest / ".mirrorkit/manifest.head.json"
    kept = run(dest, upstream)
    assert kept.kept_plan and kept.files == len(files) + 1

    # a head from a later save whose manifest never landed: other generation, other counts
    data = json.loads(head.read_bytes())
    data.update(generation="0" * 16, count=1, indexes={})
    head.write_text(json.dumps(data))
    again = run(dest, upstream)
    assert again.status == "ok" and again.kept_plan
    assert again.files == len(files) + 1  # from the manifest, not the stray head
    assert json.loads(head.read_bytes())["generation"] != "0" * 16  # rewritten with it

    # a damaged head only costs loading the manifest
    head.write_bytes(b"{not json")
    damaged = run(dest, upstream)
    assert damaged.status == "ok" and damaged.kept_plan and damaged.files == len(files) + 1
    assert tree_bytes(dest).keys() == {"list.txt"} | {f"files/{n}" for n in files}


def test_state_a_kept_snapshot_names_stays_when_its_head_is_missing(
        upstream: Upstream, tmp_path: Path) -> None:
    """Unused state is judged by each kept snapshot's head; a snapshot without one (written
    by an older version, or its head lost) is read whole rather than guessed about."""
    serve(upstream, {"a": b"A"})
    dest = tmp_path / "mirror"
    run(dest, upstream, plan_once=False)
    first = json.loads((dest / ".mirrorkit/manifest.json").read_bytes())["state"]
    shutil.rmtree(dest / ".mirrorkit/snapshots/heads")
    serve(upstream, {"a": b"A", "b": b"B"})
    assert run(dest, upstream, plan_once=False).status == "ok"
    stored = {p.name for p in (dest / ".mirrorkit/state").iterdir()}
    assert first["plugin/runs.json"]["sha256"] in stored  # the first snapshot still names it
