"""``ctx.keep_previous(paths)``: a plugin keeps some files of the last snapshot as they are
and plans the rest, as the conda plugin does for a subdir whose index did not change."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from mirrorkit.api import Artifact, PlanContext, RegistryCollection, hookimpl
from mirrorkit.core.plugin.host import load_plugins
from mirrorkit.core.run.pipeline import mirror_from_options, run_mirror
from tests.support.trees import mirror_tree
from tests.support.upstream import Upstream

pytestmark = pytest.mark.anyio

KEPT = {"pkgs/one.bin": b"1" * 100, "pkgs/two.bin": b"2" * 50}


class KeeperOptions(BaseModel):
    base: str
    keep: list[str] = []
    plan: list[str] = []


class Keeper:
    """Keeps ``keep`` with ``ctx.keep_previous``, or plans them when it says no; then ``plan``."""

    name: ClassVar[str] = "keeper"
    summary: ClassVar[str] = "test registry"
    Options: ClassVar[type[BaseModel]] = KeeperOptions

    async def plan(self, options: KeeperOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
        if not (options.keep and ctx.keep_previous(options.keep)):
            for path in options.keep:
                yield Artifact.blob(path, f"{options.base}/{path}", immutable=True)
        for path in options.plan:
            yield Artifact.blob(path, f"{options.base}/{path}", immutable=True)


class Registers:
    @hookimpl
    def mirrorkit_add_registries(self, registries: RegistryCollection) -> None:
        registries.add(Keeper)


async def _run(upstream: Upstream, dest: Path, **options: Any) -> Any:
    host = load_plugins(Registers())
    mirror = mirror_from_options("keeper", host=host, dest=dest, base=upstream.url,
                                 settings={"retries": 0}, **options)
    return await run_mirror(mirror, host=host)


def _fetched(upstream: Upstream) -> list[str]:
    return sorted(r.path.lstrip("/") for r in upstream.log if r.method == "GET")


async def test_kept_files_stay_and_the_rest_is_planned(upstream: Upstream,
                                                       tmp_path: Path) -> None:
    for path, body in {**KEPT, "extra/three.bin": b"3"}.items():
        upstream.add(f"/{path}", body)
    dest = tmp_path / "m"
    assert (await _run(upstream, dest, keep=list(KEPT))).status == "ok"
    upstream.log.clear()
    report = await _run(upstream, dest, keep=list(KEPT), plan=["extra/three.bin"])
    assert report.status == "ok", report.errors
    assert _fetched(upstream) == ["extra/three.bin"]  # the kept files were not asked for
    assert (report.skipped, report.downloaded, report.files) == (2, 1, 3)
    assert mirror_tree(dest) == {**{p: hashlib.sha256(b).hexdigest() for p, b in KEPT.items()},
                                 "extra/three.bin": hashlib.sha256(b"3").hexdigest()}


async def test_a_kept_file_missing_on_disk_is_fetched_again(upstream: Upstream,
                                                            tmp_path: Path) -> None:
    for path, body in KEPT.items():
        upstream.add(f"/{path}", body)
    dest = tmp_path / "m"
    assert (await _run(upstream, dest, keep=list(KEPT))).status == "ok"
    (dest / "pkgs/two.bin").unlink()
    upstream.log.clear()
    report = await _run(upstream, dest, keep=list(KEPT))
    assert report.status == "ok", report.errors
    assert _fetched(upstream) == ["pkgs/two.bin"]
    assert (dest / "pkgs/two.bin").read_bytes() == KEPT["pkgs/two.bin"]


async def test_a_file_under_a_kept_file_is_refused(upstream: Upstream, tmp_path: Path) -> None:
    for path, body in {**KEPT, "pkgs/one.bin/inner": b"x"}.items():
        upstream.add(f"/{path}", body)
    dest = tmp_path / "m"
    assert (await _run(upstream, dest, keep=list(KEPT))).status == "ok"
    before = mirror_tree(dest)
    report = await _run(upstream, dest, keep=list(KEPT), plan=["pkgs/one.bin/inner"])
    assert report.status == "failed"
    assert any("pkgs/one.bin is both a file and the directory of pkgs/one.bin/inner"
               in e.error for e in report.errors), report.errors
    assert mirror_tree(dest) == before
