"""``plan`` lists the files a run would change, and agrees with the run on every kind.

Before, plan gave counts only, and counted generated (``Artifact.local``) files as downloads
that the run then kept.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.plugin_dist import plugin_env
from tests.support.static_list import index_url, publish
from tests.support.upstream import Upstream

GENERATED = textwrap.dedent('''
    from collections.abc import AsyncIterator
    from pydantic import BaseModel, ConfigDict
    from mirrorkit.api import Artifact, Kind, PlanContext, RegistryCollection, hookimpl

    class GenOptions(BaseModel):
        model_config = ConfigDict(extra="forbid")
        index_url: str
        note: str = "v1"

    class Generated:
        """Mirrors a static list, plus a generated file (new mtime on every run)."""
        name = "gen-list"
        summary = "static list plus a generated file"
        Options = GenOptions

        async def plan(self, options: GenOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
            import json
            from urllib.parse import urljoin
            index = await ctx.fetch(Artifact.index("index.json", options.index_url))
            listing = []
            for item in json.loads(index.read_bytes()):
                listing.append(item["path"])
                yield Artifact.blob(item["path"], urljoin(options.index_url, item["url"]),
                                    sha256=item["sha256"], size=item["size"])
            out = ctx.work_dir / "listing.txt"
            out.write_text(options.note + "\\n" + "\\n".join(listing))  # a fresh mtime
            yield Artifact.local("listing.txt", out, kind=Kind.INDEX)

    @hookimpl
    def mirrorkit_add_registries(registries: RegistryCollection) -> None:
        registries.add(Generated)
''')


def _changes(report: dict[str, object]) -> set[tuple[str, str]]:
    return {(c["path"], c["reason"]) for c in report["changes"]}  # type: ignore[index,union-attr]


def test_plan_lists_files_largest_first_with_totals(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"small.bin": b"s" * 10, "big.bin": b"b" * 5000, "mid.bin": b"m" * 700})
    res = run_cli("plan", "static-list", "--index-url", index_url(upstream),
                  "--dest", tmp_path / "m")
    assert res.code == 0, res.stderr
    rows = [line.split() for line in res.stdout.splitlines()[1:] if line.startswith("new")]
    assert [r[-1] for r in rows if r[-1].endswith(".bin")] == ["big.bin", "mid.bin",
                                                               "small.bin"]
    assert "total: 4 new" in res.stdout and "0 removed" in res.stdout
    res = run_cli("plan", "--json", "static-list", "--index-url", index_url(upstream),
                  "--dest", tmp_path / "m")
    sizes = {c["path"]: (c["size"], c["reason"]) for c in res.json["changes"]}
    assert sizes["big.bin"] == (5000, "new") and sizes["small.bin"] == (10, "new")
    assert not (tmp_path / "m").exists()


def test_plan_and_run_agree_on_every_kind_of_artifact(upstream: Upstream,
                                                       tmp_path: Path) -> None:
    env = plugin_env(tmp_path / "site", "gen_list_plugin", GENERATED)
    dest = tmp_path / "m"
    publish(upstream, {"a.bin": b"a" * 100, "b.bin": b"b" * 200})
    args = ["gen-list", "--index-url", index_url(upstream), "--dest", dest, "--json"]

    def plan_then_run(*extra: str) -> tuple[set[tuple[str, str]], dict[str, object]]:
        plan = run_cli("plan", *args, *extra, env=env)
        assert plan.code == 0, plan.stderr
        run = run_cli("run", *args, *extra, env=env)
        assert run.code == 0, run.stderr
        assert _changes(run.json) == _changes(plan.json)
        return _changes(plan.json), run.json

    changes, report = plan_then_run()
    assert changes == {("a.bin", "new"), ("b.bin", "new"), ("index.json", "new"),
                       ("listing.txt", "new")}
    assert report["copied"] == 1 and report["downloaded"] == 3  # generated: not a download
    # again: the generated file is rewritten with the same bytes: nothing to do, both agree
    changes, report = plan_then_run()
    assert changes == set() and report["copied"] == 0 and report["downloaded"] == 0
    # upstream changes one file and drops another; the generated listing follows
    publish(upstream, {"a.bin": b"A" * 100, "c.bin": b"c" * 5})
    changes, report = plan_then_run()
    assert changes == {("a.bin", "changed"), ("b.bin", "removed"), ("c.bin", "new"),
                       ("index.json", "changed"), ("listing.txt", "changed")}
    changes, _ = plan_then_run("--note", "v2")  # only the generated file differs
    assert changes == {("listing.txt", "changed")}
