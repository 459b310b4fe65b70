"""Start-up and a no-op run of the command line, optionally against another checkout.

    .venv/bin/python benchmarks/startup_noop.py                      # this checkout
    .venv/bin/python benchmarks/startup_noop.py --against /tmp/base  # vs another mirrorkit/

A no-op re-run of a small mirror is mostly start-up: interpreter, imports, plugin loading,
one conditional request, teardown. Measured per round, interleaved between the checkouts:
``-X importtime``'s total for ``import mirrorkit.cli``, the wall and CPU time (user + system,
steadier than wall time on a shared machine) of a process that only imports it, and of a
``mirrorkit run static-list`` that finds nothing to do. ``--against`` puts the given
directory (holding a ``mirrorkit`` package) first on ``PYTHONPATH``; the example plugin
and the dependencies are this environment's.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mirrorkit.testing import Upstream  # noqa: E402
from tests.support.static_list import index_url, publish  # noqa: E402


def _child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and stderr of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, cwd="/",
                          check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"benchmarks: {' '.join(args)} failed:\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=50, help="files in the mirror")
    ap.add_argument("--rounds", type=int, default=9, help="rounds (medians are shown)")
    ap.add_argument("--against", type=Path, help="a directory holding another mirrorkit/")
    args = ap.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    base["NO_PROXY"] = "127.0.0.1"
    envs = {"this": dict(base)}
    if args.against is not None:
        envs["against"] = {**base, "PYTHONPATH": str(args.against.resolve())}
    with Upstream() as up:
        publish(up, {f"f/{i}.bin": os.urandom(100) for i in range(args.files)})
        dests = {name: Path(tempfile.mkdtemp()) / "m" for name in envs}
        run = [sys.executable, "-m", "mirrorkit", "run", "static-list", "--index-url",
               index_url(up)]
        for name, env in envs.items():
            _child([*run, "--dest", str(dests[name])], env)  # the first, real, run
        samples: dict[str, dict[str, list[float]]] = {
            name: {"importtime": [], "import_wall": [], "import_cpu": [], "noop_wall": [],
                   "noop_cpu": []} for name in envs}
        for _ in range(args.rounds):
            for name, env in envs.items():
                s = samples[name]
                _, _, err = _child([sys.executable, "-X", "importtime", "-c",
                                    "import mirrorkit.cli"], env)
                s["importtime"].append(int(err.strip().splitlines()[-1].split("|")[1]) / 1e6)
                wall, cpu, _ = _child([sys.executable, "-c", "import mirrorkit.cli"], env)
                s["import_wall"].append(wall)
                s["import_cpu"].append(cpu)
                wall, cpu, _ = _child([*run, "--dest", str(dests[name])], env)
                s["noop_wall"].append(wall)
                s["noop_cpu"].append(cpu)
    med = statistics.median
    print(f"{args.files} files, {args.rounds} interleaved rounds, medians")
    for name, s in samples.items():
        print(f"{name:8} import mirrorkit.cli: {med(s['importtime']):.3f} s (importtime), "
              f"process {med(s['import_wall']):.3f} s wall / {med(s['import_cpu']):.3f} s CPU; "
              f"no-op run: {med(s['noop_wall']):.3f} s wall / {med(s['noop_cpu']):.3f} s CPU")


if __name__ == "__main__":
    main()
