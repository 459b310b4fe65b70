"""kill -9 at every step of a re-export with another part size: a whole bundle stays.

The earlier export's TOC names parts ``NAME.tar.0000`` and on; a re-export of the same
snapshot with another ``--part-size`` writes parts of the same names and other contents. A
kill between the first part changed beside the old TOC and the new TOC once left no TOC at
all ("no bundles"). Here the re-export runs under ``killpoint.py``, which SIGKILLs it just
before its Nth change to the bundle directory, for every N from the first change to the
last, towards more parts and towards fewer. After each kill ``import --check`` accepts the
directory and finds exactly the old bundle or exactly the new one (its TOC and its parts),
and the next export completes a swap the kill interrupted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.harness import invoke
from tests.sinks.bundle.bundle_helpers import make_mirror, tree
from tests.support.cli import cli_env, run_cli

SNAP = "20260108T000000Z-bbbbbb"
NAME = f"demo-{SNAP}-full"
KILLPOINT = Path(__file__).with_name("killpoint.py")


def exports_killed_at(steps: list[int], src: Path, out: Path, part_size: str) -> list[int]:
    """``mirrorkit export SRC --to OUT`` killed before its ``step``-th change to ``OUT``, for
    each step, run on copies: ``<out><step>`` from ``out``, ``<src><step>`` from ``src`` (an
    export holds its mirror's lock). Returns the exit codes."""
    jobs = []
    for step in steps:
        shutil.copytree(out, f"{out}{step}")
        shutil.copytree(src, f"{src}{step}")
        jobs.append(json.dumps({"dir": f"{out}{step}", "stop": step, "args": [
            "export", f"{src}{step}", "--to", f"{out}{step}", "--full",
            "--part-size", part_size]}))
    proc = subprocess.run([sys.executable, str(KILLPOINT)], input="\n".join(jobs) + "\n",
                          capture_output=True, text=True, env=cli_env(), timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(r["code"] in (0, -9) for r in results), results
    return [r["code"] for r in results]


Bundle = tuple[dict[str, object], dict[str, bytes]]


def parsed(toc: bytes) -> dict[str, object]:
    """A TOC without its time of writing (each export writes its own)."""
    data: dict[str, object] = json.loads(toc)
    data.pop("created")
    return data


def bundle_in(out: Path) -> Bundle:
    """The one bundle ``import --check`` accepts in ``out``: its TOC and its parts, read
    where readers find them (a committed export's staging, else beside the TOC)."""
    from mirrorkit.core.bundle.targets import DirTarget

    check = invoke("import", "--check", out, "--json")
    assert check.code == 0, check.stderr
    assert [b["name"] for b in json.loads(check.stdout)["bundles"]] == [NAME]
    target = DirTarget(out)
    toc = target.read_bytes(f"{NAME}.toc.json")
    assert toc is not None
    return parsed(toc), {p["name"]: target.read_bytes(p["name"]) or b""
                         for p in json.loads(toc)["parts"]}


def snapshot_of(out: Path) -> Bundle:
    """The bundle beside its TOC (what a finished export leaves)."""
    toc = parsed((out / f"{NAME}.toc.json").read_bytes())
    return toc, {p.name: p.read_bytes() for p in sorted(out.glob(f"{NAME}.tar.*"))}


@pytest.mark.parametrize(("old_size", "new_size"), [("8KiB", "4KiB"), ("4KiB", "8KiB")],
                         ids=["to-more-parts", "to-fewer-parts"])
def test_reexport_killed_at_every_step_leaves_the_old_bundle_or_the_new_one(
        tmp_path: Path, old_size: str, new_size: str) -> None:
    src = tmp_path / "src"
    make_mirror(src, {f"pool/{i}.bin": os.urandom(2500) for i in range(3)}, snapshot=SNAP)
    before = tmp_path / "before"
    assert run_cli("export", src, "--to", before, "--part-size", old_size).code == 0
    after = tmp_path / "after"
    shutil.copytree(before, after)
    assert run_cli("export", src, "--to", after, "--full", "--part-size", new_size).code == 0
    old, new = snapshot_of(before), snapshot_of(after)
    assert len(old[1]) != len(new[1]) and set(old[1]) & set(new[1])  # names reused

    # how many changes a re-export makes (the step log of a run never killed)
    assert exports_killed_at([10**6], src, before, new_size) == [0]
    steps = len(Path(f"{before}{10**6}.steps").read_text().splitlines())
    assert steps > 2 * len(new[1])  # every part written, then moved in

    assert exports_killed_at(list(range(1, steps + 1)), src, before, new_size) == [-9] * steps
    seen = {}
    for step in range(1, steps + 1):
        found = bundle_in(tmp_path / f"before{step}")
        assert found in (old, new), step
        seen[step] = "old" if found == old else "new"
    # killed before the commit: the old bundle; after it: the new one, never anything else
    first_new = min(s for s, which in seen.items() if which == "new")
    assert all(which == ("new" if s >= first_new else "old") for s, which in seen.items())
    assert first_new < steps  # some kills landed while parts were being moved in

    # the next export completes an interrupted swap, and the bundle imports
    for step in (first_new, steps):
        out = tmp_path / f"before{step}"
        again = run_cli("export", src, "--to", out, "--full", "--part-size", new_size)
        assert again.code == 0, again.stderr
        assert snapshot_of(out)[1] == new[1]
        assert sorted(p.name for p in out.iterdir()) == sorted(
            [*new[1], f"{NAME}.toc.json", "demo.last-export.json"])
        assert run_cli("import", out, "--into", tmp_path / f"m{step}").code == 0
        assert tree(tmp_path / f"m{step}") == tree(src)
