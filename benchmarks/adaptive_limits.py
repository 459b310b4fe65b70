"""Auto pipelining: with no concurrency flags, the in-flight limits find each host's level.

    .venv/bin/python benchmarks/adaptive_limits.py [--formulae 440] [--runs 2]

The Homebrew-shaped upstream of ``homebrew_bottles.py`` (API, manifests, token challenge,
blobs redirected to a CDN host), far away: 50 ms added to every registry request, 100 ms to
every CDN request, and a CDN that serves a fixed number of requests at once and answers
``503`` + ``Retry-After: 1`` beyond it (nginx ``limit_conn``). Two scenarios:

- **roomy**: the CDN serves 48 at once. ``mirrorkit`` with no flags against
  ``--concurrency 16 --per-host 16``. Target: at least 2x faster, no failed file.
- **tight**: the CDN serves 4 at once. ``mirrorkit`` with no flags against ``--per-host 4``
  (every host pinned to the CDN's capacity). Targets: no failed file, refused requests at
  most 15% of served ones, within 1.5x the pinned run's time.

Refusals and the limit each host settled on come from the run's ``--json`` report
(``hosts``); rounds are interleaved and medians shown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import mirrorkit_cmd, set_aside  # noqa: E402
from homebrew_bottles import TAG, Upstream  # noqa: E402
from homebrew_noop import KEY_ARGS  # noqa: E402

# CDN capacity, and the flags of the pinned run it is compared with
SCENARIOS = {"roomy": (48, ["--concurrency", "16", "--per-host", "16"]),
             "tight": (4, ["--per-host", "4"])}


def run_once(cmd: list[str]) -> tuple[float, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    with tempfile.TemporaryFile() as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env)
        proc.wait()
        wall = time.monotonic() - started
        out.seek(0)
        return wall, json.loads(out.read() or b"{}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formulae", type=int, default=440)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--only", default="roomy,tight")
    args = ap.parse_args()
    lines: list[str] = []
    for name in [s.strip() for s in args.only.split(",")]:
        capacity, pinned = SCENARIOS[name]
        work = Path(tempfile.mkdtemp(prefix=f"mirrorkit-adaptive-{name}-"))
        try:
            lines += scenario(name, capacity, pinned, work, args)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines))


def scenario(name: str, capacity: int, pinned: list[str], work: Path,
             args: argparse.Namespace) -> list[str]:
    with Upstream(work / "www", work / "nginx", args.formulae, 50.0, cdn_delay_ms=100.0,
                  cdn_capacity=capacity) as up:
        dest, trash = work / "dest", work / "trash"
        label = "pinned: " + " ".join(pinned)
        tools = {"auto (no flags)": [], label: pinned}
        results: dict[str, list[tuple[float, dict[str, Any]]]] = {t: [] for t in tools}
        for r in range(args.runs):
            for tool, flags in tools.items():
                set_aside(dest, trash)
                wall, report = run_once([
                    *mirrorkit_cmd("run", "homebrew", "--tag", TAG, "--dest", str(dest),
                                   "--api-url", up.api_url, "--registry-url", up.registry_url,
                                   "--json", *KEY_ARGS), *flags])
                results[tool].append((wall, report))
                cdn = _cdn(report, up.cdn)
                print(f"[{time.strftime('%H:%M:%S')}] {name} run {r + 1}/{args.runs} {tool}: "
                      f"{wall:.2f}s, {report.get('status')}, failed {report.get('failed')}, "
                      f"CDN refused {cdn.get('refusals')} limit {cdn.get('limit')}",
                      file=sys.stderr, flush=True)
    out = ["", f"### {name}: CDN serves {capacity} at once ({len(up.bottles)} bottles, "
           f"50 ms per registry request, 100 ms per CDN request, medians of {args.runs})", "",
           "| run | wall s | status | failed files | CDN refused | refused / served | "
           "CDN limit settled (max) | registry limit settled (max) |",
           "|---|---:|---|---:|---:|---:|---:|---:|"]
    walls = {}
    for tool, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        walls[tool] = wall
        _, report = sorted(runs, key=lambda x: x[0])[len(runs) // 2]
        cdn, reg = _cdn(report, up.cdn), _registry(report, up.registry)
        refused = max(int(c.get("refusals", 0)) for c in (_cdn(rep, up.cdn) for _, rep in runs))
        served = len(up.bottles)
        failed = max(int(rep.get("failed", 0)) for _, rep in runs)
        statuses = ",".join(sorted({str(rep.get("status")) for _, rep in runs}))
        out.append(f"| {tool} | {wall:.2f} | {statuses} | {failed} | {refused} | "
                   f"{refused / served:.0%} | {cdn.get('limit')} ({cdn.get('max_limit')}) | "
                   f"{reg.get('limit')} ({reg.get('max_limit')}) |")
    auto, fixed = walls["auto (no flags)"], walls[label]
    out.append("")
    if name == "roomy":
        out.append(f"- auto is {fixed / auto:.2f}x faster than the pinned run "
                   f"(target >= 2x) {'met' if fixed / auto >= 2 else 'NOT met'}")
    else:
        out.append(f"- auto takes {auto / fixed:.2f}x the time of the pinned run "
                   f"(target <= 1.5x) {'met' if auto / fixed <= 1.5 else 'NOT met'}")
    return out


def _host(report: dict[str, Any], port: int) -> dict[str, Any]:
    for h in report.get("hosts", []):
        if str(h.get("host", "")).endswith(f":{port}"):
            return dict(h)
    return {}


def _cdn(report: dict[str, Any], port: int) -> dict[str, Any]:
    return _host(report, port)


def _registry(report: dict[str, Any], port: int) -> dict[str, Any]:
    return _host(report, port)


if __name__ == "__main__":
    main()
