"""mirrorkit against the tools users would otherwise pick, side by side, in one command.

    .venv/bin/python benchmarks/run.py                 # everything, 3 runs each (~20 min)
    .venv/bin/python benchmarks/run.py --only small,verify --runs 5
    .venv/bin/python benchmarks/run.py --quick         # scaled down, to try the harness

Installs missing peers from Debian (aria2, curl, wget, nginx-light with the echo module),
builds the test data under --workdir (kept between invocations, 4.2 GB), runs every tool of a
scenario once per round (rounds interleaved so noise hits every tool alike), and prints the
medians with mirrorkit's ratio to each peer plus the issue's targets. The Homebrew no-op
re-run and the bundle export are the standalone scripts ``homebrew_noop.py`` and
``bundle_export.py`` next to this file, run as subprocesses. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import large_files
import small_files
import verify_tree
from _harness import (
    PYTHON,
    REPO,
    Nginx,
    Row,
    ensure_debian_packages,
    tool_versions,
)

SCENARIOS = ("small", "large", "noop", "export", "verify", "bottles", "apt")
HERE = Path(__file__).resolve().parent


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(SCENARIOS),
                    help=f"comma-separated scenarios among {', '.join(SCENARIOS)}")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool (the median is shown)")
    ap.add_argument("--workdir", type=Path, default=Path("/var/tmp/mirrorkit-bench"),
                    help="test data and outputs (about 4.2 GB of data + 4.3 GB of output)")
    ap.add_argument("--parallel", type=int, default=32,
                    help="requests in flight for every tool in the small-files scenario "
                         "(mirrorkit gets --concurrency/--per-host, aria2c -j, curl "
                         "--parallel-max)")
    ap.add_argument("--small-files", type=int, default=5000)
    ap.add_argument("--small-size", type=int, default=20 * 1000)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--sequential-sample", type=int, default=1000,
                    help="files the one-curl-per-file loop fetches (its throughput is what "
                         "is compared; 5,000 in a row would take minutes per run)")
    ap.add_argument("--large-files", type=int, default=4)
    ap.add_argument("--large-size", type=int, default=1 << 30)
    ap.add_argument("--quick", action="store_true",
                    help="scaled down (500 small files, 4 x 128 MiB, 1,000 formulae, 2 runs)")
    ap.add_argument("--json", type=Path, help="also write every measurement to this file")
    ap.add_argument("--keep-data", action="store_true",
                    help="keep the generated test data in --workdir after the run")
    args = ap.parse_args()
    # a SIGTERM unwinds like Ctrl-C, so nginx and the outputs are cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        args.small_files, args.large_size, args.runs = 500, 128 << 20, min(args.runs, 2)
        args.sequential_sample = min(args.sequential_sample, 200)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(unknown)}; choose among {', '.join(SCENARIOS)}")

    ensure_debian_packages(log)
    work: Path = args.workdir
    root = work / "www"
    root.mkdir(parents=True, exist_ok=True)
    need = (args.large_files * args.large_size * 2.2 if {"large", "verify"} & set(only) else 0)
    free = shutil.disk_usage(work).free
    if free < need:
        sys.exit(f"benchmarks: {work} has {free / 1e9:.1f} GB free, needs {need / 1e9:.1f} GB")

    rows: list[Row] = []
    extra: dict[str, str] = {}
    started = dt.datetime.now().astimezone()
    with Nginx(root, work / "nginx", delay_ms=args.latency_ms) as server:
        small_items: list[dict[str, object]] = []
        large_items: list[dict[str, object]] = []
        if {"small", "verify"} & set(only):
            log(f"preparing {args.small_files} files of {args.small_size} bytes")
            small_items = small_files.prepare(root, args.small_files, args.small_size)
        if {"large", "verify"} & set(only):
            log(f"preparing {args.large_files} files of {args.large_size} bytes")
            large_items = large_files.prepare(root, args.large_files, args.large_size)
        if "small" in only:
            rows += small_files.run(server, work / "small", small_items, args.small_size,
                                    runs=args.runs, parallel=args.parallel,
                                    sequential_sample=args.sequential_sample, log=log)
        if "large" in only:
            rows += large_files.run(server, work / "large", large_items, runs=args.runs,
                                    log=log)
        if "verify" in only:
            rows += verify_tree.run(server, root, work / "verify", large_items + small_items,
                                    runs=args.runs, log=log)
    if "noop" in only:
        extra["noop"] = _standalone("homebrew_noop.py",
                                    ["--formulae", "1000"] if args.quick else [])
    if "bottles" in only:
        extra["bottles"] = _standalone(
            "homebrew_bottles.py",
            (["--formulae", "200"] if args.quick else []) + ["--runs", str(args.runs)])
    if "apt" in only:  # the apt no-op re-run at jammy scale, beside apt-mirror's
        extra["apt"] = _standalone("apt_noop.py", ["--per-arch", "8000"] if args.quick else [])
    if "export" in only:
        extra["export"] = _standalone(
            "bundle_export.py",
            (["--size-mb", "256"] if args.quick else []) + ["--repeat", str(args.runs)])
    if not args.keep_data:
        shutil.rmtree(root / "fast" / "large", ignore_errors=True)

    print(render(rows, extra, started, args))
    if args.json:
        args.json.write_text(json.dumps({
            "started": started.isoformat(timespec="seconds"),
            "machine": machine(),
            "rows": [{"scenario": r.scenario, "tool": r.tool, "command": r.command,
                      "work_bytes": r.work_bytes, "work_files": r.work_files,
                      "runs": [dataclasses.asdict(m) for m in r.runs]}
                     for r in rows],
            "standalone": extra,
        }, indent=1))


def _standalone(script: str, args: list[str]) -> str:
    """Run a sibling benchmark script and return its output (it prints its own table)."""
    path = HERE / script
    if not path.exists():
        return f"({script} is not in this checkout)"
    log(f"running {script} {' '.join(args)}")
    res = subprocess.run([str(PYTHON), str(path), *args], cwd=REPO, capture_output=True,
                         text=True, check=False)
    out = res.stdout.strip()
    if res.returncode != 0:
        out += f"\n({script} exited {res.returncode}: {res.stderr.strip()[-500:]})"
    return out


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": f"{mem:.0f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        **tool_versions(),
    }


def _ratio(mk: Row, peer: Row, small_is_better: bool = False) -> str:
    if mk is peer:
        return "1.00x"
    if small_is_better:
        return f"{peer.wall / mk.wall:.2f}x"
    a = mk.files_per_s if mk.scenario == "small files" else mk.mb_per_s
    b = peer.files_per_s if peer.scenario == "small files" else peer.mb_per_s
    return f"{a / b:.2f}x" if b else "-"


def render(rows: list[Row], extra: dict[str, str], started: dt.datetime,
           args: argparse.Namespace) -> str:
    out = [f"# mirrorkit benchmarks, {started:%Y-%m-%d %H:%M %Z}, medians of {args.runs} runs",
           ""]
    out += [f"- {k}: {v}" for k, v in machine().items()]
    by_scenario: dict[str, list[Row]] = {}
    for r in rows:
        by_scenario.setdefault(r.scenario, []).append(r)
    for scenario, group in by_scenario.items():
        mk = next(r for r in group if r.is_mirrorkit)
        out += ["", f"## {scenario}", "",
                "| tool | wall s | files/s | MB/s | CPU s/GB | peak RSS MB | mirrorkit vs this |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for r in group:
            out.append(f"| {r.tool} | {r.wall:.2f} | {r.files_per_s:.0f} | {r.mb_per_s:.0f} | "
                       f"{r.cpu_per_gb:.2f} | {r.rss:.0f} | {_ratio(mk, r)} |")
        out += ["", "commands:"] + [f"- {r.tool}: `{r.command}`" for r in group]
    for name, text in extra.items():
        out += ["", f"## {name} (standalone script)", "", text]
    out += ["", "## targets", "", *targets(rows, extra)]
    return "\n".join(out)


def targets(rows: list[Row], extra: dict[str, str]) -> list[str]:
    def find(scenario: str, tool: str) -> Row | None:
        return next((r for r in rows if r.scenario == scenario and r.tool == tool), None)

    lines: list[str] = []

    def check(label: str, mk: Row | None, peer: Row | None, goal: float) -> None:
        if mk is None or peer is None or not mk.runs or not peer.runs:
            return
        value = float(_ratio(mk, peer).rstrip("x"))
        lines.append(f"- {label}: {value:.2f}x (target >= {goal}x) "
                     f"{'met' if value >= goal else 'NOT met'}")

    mk = find("small files", "mirrorkit")
    check("small files vs aria2c", mk, find("small files", "aria2c"), 1.0)
    check("small files vs sequential curl", mk, find("small files", "sequential curl"), 20.0)
    check("large files vs aria2c", find("large files", "mirrorkit"),
          find("large files", "aria2c"), 0.8)
    check("verify vs sha256sum", find("verify", "mirrorkit verify"),
          find("verify", "sha256sum"), 1.5)
    noop = re.search(r"no-op run: ([\d.]+) s.*?peak RSS (\d+) MB", extra.get("noop", ""))
    if noop:
        wall, rss = float(noop.group(1)), float(noop.group(2))
        lines.append(f"- Homebrew no-op re-run: {wall:.2f} s (target < 5 s) "
                     f"{'met' if wall < 5 else 'NOT met'}; peak RSS {rss:.0f} MB "
                     f"(target < 300 MB) {'met' if rss < 300 else 'NOT met'}")
    export = _export_rows(extra.get("export", ""))
    mk_export = export.get("mirrorkit export")
    if mk_export:
        for peer, goal in (("tar -cf | split -b", 0.8), ("tar -czf | split -b", 5.0)):
            if peer in export:
                value = mk_export[0] / export[peer][0]
                lines.append(f"- export vs {peer}: {value:.2f}x (target >= {goal}x) "
                             f"{'met' if value >= goal else 'NOT met'}")
        lines.append(f"- export peak RSS: {mk_export[1]:.0f} MB (target < 200 MB) "
                     f"{'met' if mk_export[1] < 200 else 'NOT met'}")
    return lines


def _export_rows(text: str) -> dict[str, tuple[float, float]]:
    """(MB/s, peak RSS MB) per command, from bundle_export.py's markdown table."""
    rows: dict[str, tuple[float, float]] = {}
    for m in re.finditer(r"^\| `(.+?)` \| [\d.]+ \| (\d+) \| [\d.]+ \| (\d+) MB", text,
                         re.MULTILINE):
        rows[m.group(1).replace("\\|", "|")] = (float(m.group(2)), float(m.group(3)))
    return rows


if __name__ == "__main__":
    main()
