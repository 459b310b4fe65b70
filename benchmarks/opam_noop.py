"""Planning and a no-op re-run of an opam repository the size of opam-repository.

    .venv/bin/python benchmarks/opam_noop.py [--workdir DIR] [--rounds N]

A synthetic repository on loopback (``benchmarks/opam_fixture.py``: 4,600 packages,
18,800 versions, about 22,000 distinct checksums, ``index.tar.gz`` about 3 MB, and
upstream's ``cache/`` with an archive per source). The mirror is made once by a real
``mirrorkit run opam`` (kept between invocations under --workdir).

Printed, for the ``mirrorkit`` process only (wall time, CPU time, peak RSS from ``wait4``,
taken by a small process in between, as in conda_noop.py): ``mirrorkit plan`` into an
empty directory (every ``opam`` file read, every archive planned), a run whose index
changed upstream (one version fewer: every archive kept after one ``stat``, the dropped
version's cache files kept as unreferenced), and the no-op re-run (the index is the one
the mirror holds: one request, the previous snapshot kept whole). Targets: planning under
5 s; the no-op under 1 s and under 200 MB.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import statistics
import sys
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _harness import mirrorkit_cmd  # noqa: E402
from conda_noop import measure  # noqa: E402
from opam_fixture import generate  # noqa: E402

from tests.support.upstream import Upstream  # noqa: E402

WHEN = 1_760_000_000.0


def serve(up: Upstream, repo: Path) -> None:
    for path in repo.rglob("*"):
        rel = path.relative_to(repo).as_posix()
        if path.is_file() and rel != "stats.json":
            up.add(f"/repo/{rel}", path.read_bytes(), last_modified=WHEN)


def one_version_fewer(index: bytes) -> bytes:
    """The same index without its last package version (what a daily update looks like)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(index), mode="r:gz") as src:
        infos = src.getmembers()
        last = max(i.name for i in infos if i.name.endswith("/opam")).rsplit("/", 1)[0]
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as out:
            for info in infos:
                if info.name != last and not info.name.startswith(last + "/"):
                    out.addfile(info, src.extractfile(info) if info.isfile() else None)
    return raw.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/mirrorkit-bench-opam"),
                        help="repository and mirror, kept between invocations")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each measurement")
    args = parser.parse_args()
    repo = generate(args.workdir)
    stats = json.loads((repo / "stats.json").read_text())
    index = (repo / "index.tar.gz").read_bytes()
    changed = one_version_fewer(index)
    up = Upstream().start()
    serve(up, repo)
    dest = args.workdir / "mirror"
    base = ["opam", "--dest", str(dest), "--json", "--repo-url", f"{up.url}/repo"]
    rows: list[tuple[str, list[tuple[float, float, float]], Any]] = []
    try:
        if not (dest / ".mirrorkit/manifest.json").exists():
            first = measure([*mirrorkit_cmd("run"), *base])
            rows.append(("first mirror (every archive downloaded)", [first[:3]],
                         first[3].get("downloaded")))
        empty = args.workdir / "plan-empty"
        plans, noops, changes = [], [], []
        requests: list[int] = []
        for _ in range(args.rounds):
            plan = measure([*mirrorkit_cmd("plan"), base[0], "--dest", str(empty), *base[3:]])
            plans.append(plan[:3])
            up.add("/repo/index.tar.gz", changed, last_modified=WHEN + 1)
            change = measure([*mirrorkit_cmd("run"), *base])
            changes.append(change[:3])
            up.add("/repo/index.tar.gz", index, last_modified=WHEN)
            measure([*mirrorkit_cmd("run"), *base])  # back to the repository's own index
            up.clear_log()
            noop = measure([*mirrorkit_cmd("run"), *base])
            noops.append(noop[:3])
            requests.append(len(up.log))
            if noop[3].get("downloaded") != 0:
                raise SystemExit(f"the no-op downloaded {noop[3].get('downloaded')} files")
        rows += [("mirrorkit plan (fresh mirror)", plans, plan[3].get("files")),
                 ("run: index changed (one version fewer)", changes, change[3].get("files")),
                 ("no-op re-run", noops, noop[3].get("files"))]
    finally:
        up.stop()
    print(f"repository: {stats['packages']:,} packages, {stats['versions']:,} versions, "
          f"{stats['checksums']:,} checksums, index {stats['index_bytes'] / 1e6:.1f} MB")
    print(f"{'':42} {'wall s':>16} {'CPU s':>8} {'RSS MB':>8} {'files':>8}")
    for label, runs, count in rows:
        walls = [w for w, _, _ in runs]
        cpu = statistics.median(c for _, c, _ in runs)
        rss = max(r for _, _, r in runs)
        spread = f"{statistics.median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f})"
        print(f"{label:42} {spread:>16} {cpu:8.2f} {rss:8.0f} {count!s:>8}")
    print(f"no-op: requests upstream per run: {requests}")
    plan_wall = statistics.median(w for w, _, _ in plans)
    noop_wall = statistics.median(w for w, _, _ in noops)
    noop_rss = max(r for _, _, r in noops)
    print(f"targets: plan < 5 s: {'met' if plan_wall < 5 else 'NOT met'} ({plan_wall:.2f} s); "
          f"no-op < 1 s: {'met' if noop_wall < 1 else 'NOT met'} ({noop_wall:.2f} s); "
          f"no-op < 200 MB: {'met' if noop_rss < 200 else 'NOT met'} ({noop_rss:.0f} MB)")


if __name__ == "__main__":
    main()
