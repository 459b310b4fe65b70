"""The full reliability run, in one command: ``python -m tests.reliability.full``.

It runs tests/reliability and tests/hostile in full mode (many more kills, versions and
hypothesis examples than CI), collects the figures each test records, and prints the table
of docs/reliability.md (``--seed N`` replays a run; ``--write`` updates the doc's table).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.reliability.mode import MODE_VAR, RESULTS_VAR, SEED_VAR

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- full-run:begin -->", "<!-- full-run:end -->"


def _faults(f: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(f.items())) or "none"


def table(results: list[dict[str, Any]], seed: int, passed: bool) -> str:
    by = {r["test"]: r for r in results}
    rows = ["| What was injected | How many times | What survived | What was lost |",
            "|---|---|---|---|"]
    if c := by.get("crash-consistency"):
        rows.append(
            f"| SIGKILL at random moments of runs under faults (trigger: random time "
            f"{c.get('trigger_time', 0)}, while downloading {c.get('trigger_downloading', 0)}, "
            f"right after the index commit {c.get('trigger_committed', 0)}) | {c['kills']} "
            f"kills over {c['versions']} upstream versions ({c.get('killed_while_downloading', 0)}"
            f" with temp files being written, {c.get('killed_after_index_commit', 0)} after an "
            f"index commit, {c.get('killed_while_replacing_a_snapshot', 0)} while replacing a "
            f"snapshot) | every kill: index consistent, manifest readable; "
            f"{c.get('snapshots_converged', 0)} snapshots converged exactly, verify clean, no "
            f"temp files; {c['observer_checks']} observer checks | "
            f"{c['violations']} violations |")
        rows.append(f"| network faults during the kill test | {_faults(c['faults'])} "
                    f"(of {c['requests']} requests) | all retried | nothing |")
    if r := by.get("chaos-runs"):
        rows.append(f"| random faults during whole runs | {_faults(r['faults'])} (of "
                    f"{r['requests']} requests, {r['runs']} runs) | every run ok, exact tree, "
                    f"verify clean; {r['observer_checks']} observer checks | "
                    f"{r['violations']} violations |")
    if d := by.get("disk-full"):
        rows.append(f"| disk full (tmpfs of 4 MiB) during an update | 1 | previous snapshot "
                    f"served and verified; run exit 1 ({d['failed_lines']} failure line(s), "
                    f"'No space left on device'); next run after freeing space ok | nothing |")
    elif passed:
        rows.append("| disk full | skipped (not root) | | |")
    if h := by.get("hostile"):
        rows.append(f"| hostile inputs (index, Homebrew API/JWS, OCI manifests, git-tree "
                    f"listings, bundle TOCs, manifests, configs, secrets) | {h['passed']} cases "
                    f"+ property tests | refused with one line, mirror unchanged, nothing "
                    f"written beside it | nothing ({h['xfailed']} xfail cases of known "
                    f"plugin bugs) |")
    rows.append("")
    rows.append(f"Seed {seed}; reproduce with `python -m tests.reliability.full --seed {seed}`.")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--write", action="store_true", help=f"update the table in {DOC}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results_path = Path(tmp) / "results.jsonl"
        env = {**os.environ, MODE_VAR: "full", RESULTS_VAR: str(results_path),
               SEED_VAR: str(args.seed)}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rxX", "-n", "0",
             "-o", "timeout=3600",
             "tests/reliability", "tests/hostile"],
            cwd=ROOT, env=env, text=True, capture_output=True)
        sys.stdout.write(proc.stdout[-4000:])
        sys.stderr.write(proc.stderr[-2000:])
        results = [json.loads(line) for line in results_path.read_text().splitlines()
                   ] if results_path.exists() else []
    summary = re.findall(r"(\d+) (passed|xfailed|failed)", proc.stdout)
    counts = {kind: int(n) for n, kind in summary}
    results.append({"test": "hostile", "passed": counts.get("passed", 0),
                    "xfailed": counts.get("xfailed", 0)})
    text = table(results, args.seed, proc.returncode == 0)
    print(text)
    if args.write and proc.returncode == 0:
        doc = DOC.read_text()
        start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOC.write_text(doc[:start] + "\n" + text + "\n" + doc[end:])
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
