"""Planning and a no-op re-run of a conda subdir the size of conda-forge's linux-64.

    .venv/bin/python benchmarks/conda_noop.py [--records 400000] [--workdir DIR]

A synthetic channel on loopback: ``linux-64/repodata.json`` with 400,000 package records
(about 200 MB, records shaped like conda-forge's: depends, constrains, license, md5,
sha256, size, timestamp...) plus its ``.zst``, and a small ``noarch``. Package files are
empty (every record names the empty file's digest) so the mirror fits in inodes: they are
laid into the mirror with the manifest a completed first run leaves.

Printed, for the ``mirrorkit`` process only (wall time, CPU time, peak RSS from ``wait4``):
``mirrorkit plan`` (streaming parse of the whole repodata, 400,000 artifacts planned), a
run over the seeded mirror (repodata new to it: fetched and parsed, every package kept;
first invocation only), a run where only ``noarch/repodata.json`` changed (a new one each
invocation: linux-64's 400,000 packages are kept from the previous snapshot with one
``ctx.keep_previous(paths)``, nothing of it parsed), and the no-op re-run (every index file
``304``: the core keeps the previous plan). As a reference, ``json.load`` of the same file
in a fresh interpreter. Targets: planning under 15 s and 1 GB; the no-op under 1 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zstandard  # noqa: E402
from _harness import PYTHON, measure_json, mirrorkit_cmd  # noqa: E402

from mirrorkit.core.store.manifest import FileEntry, Manifest  # noqa: E402
from tests.support.upstream import Upstream  # noqa: E402

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
EMPTY_MD5 = hashlib.md5(b"").hexdigest()
DEPS = ["libgcc >=13", "libstdcxx >=13", "python >=3.12,<3.13.0a0", "python_abi 3.12.* *_cp312",
        "libzlib >=1.3.1,<2.0a0", "openssl >=3.4.0,<4.0a0", "libblas >=3.9.0,<4.0a0",
        "numpy >=1.21,<3", "__glibc >=2.17,<3.0.a0", "libcxx >=18"]
WHEN = 1_760_000_000.0


def record(i: int, rnd: random.Random) -> tuple[str, str, dict[str, Any]]:
    name = f"package-{i % 25_000}"
    version = f"{i // 25_000}.{rnd.randint(0, 30)}.{rnd.randint(0, 9)}"
    build = f"py312h{i:08x}_{rnd.randint(0, 3)}"
    section, ext = ("packages.conda", ".conda") if i % 3 else ("packages", ".tar.bz2")
    rec = {"build": build, "build_number": int(build[-1]), "constrains": ["pkg-base <0a0"],
           "depends": rnd.sample(DEPS, rnd.randint(2, 7)), "license": "BSD-3-Clause",
           "license_family": "BSD", "md5": EMPTY_MD5, "name": name, "sha256": EMPTY_SHA256,
           "size": 0, "subdir": "linux-64", "timestamp": 1_700_000_000_000 + i,
           "version": version}
    return section, f"{name}-{version}-{build}{ext}", rec


def generate(workdir: Path, records: int) -> tuple[Path, list[str]]:
    """The channel directory (kept between invocations) and the package file names."""
    chan = workdir / f"channel-{records}"
    names_file = chan / "names.txt"
    if names_file.exists():
        return chan, names_file.read_text().split("\n")
    (chan / "linux-64").mkdir(parents=True, exist_ok=True)
    (chan / "noarch").mkdir(exist_ok=True)
    rnd = random.Random(18)
    sections: dict[str, list[tuple[str, dict[str, Any]]]] = {"packages": [],
                                                              "packages.conda": []}
    for i in range(records):
        section, filename, rec = record(i, rnd)
        sections[section].append((filename, rec))
    repodata = chan / "linux-64/repodata.json"
    with open(repodata, "w") as fh:
        fh.write('{"info":{"subdir":"linux-64"}')
        for section, items in sections.items():
            fh.write(f',"{section}":{{')
            fh.write(",".join(json.dumps(f) + ":" + json.dumps(r, separators=(",", ":"))
                              for f, r in items))
            fh.write("}")
        fh.write(',"removed":[],"repodata_version":1}')
    with open(repodata, "rb") as src, open(f"{repodata}.zst", "wb") as out:
        zstandard.ZstdCompressor(level=3, threads=-1).copy_stream(src, out)
    (chan / "noarch/repodata.json").write_text(
        '{"info":{"subdir":"noarch"},"packages":{},"packages.conda":{},"repodata_version":1}')
    names = [f for items in sections.values() for f, _ in items]
    names_file.write_text("\n".join(names))
    return chan, names


def seed(dest: Path, names: list[str]) -> None:
    """The package files and manifest a completed first run leaves (its downloads skipped:
    400,000 loopback requests would only measure the HTTP server)."""
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "linux-64").mkdir(parents=True)
    files = {}
    for name in names:
        (dest / "linux-64" / name).touch()
        files[f"linux-64/{name}"] = FileEntry(size=0, sha256=EMPTY_SHA256)
    Manifest(mirror="conda", registry="conda", snapshot="seed", files=files).save(dest)


def publish_noarch(up: Upstream) -> None:
    """A ``noarch/repodata.json`` the mirror has not seen (no packages, a new ``info``)."""
    body = json.dumps({"info": {"subdir": "noarch", "generated": time.time_ns()},
                       "packages": {}, "packages.conda": {}, "repodata_version": 1}).encode()
    up.add("/chan/noarch/repodata.json", body, last_modified=time.time())


# Runs the command and writes its own CPU time and peak RSS (wait4) to argv[1]. The peak RSS
# wait4 gives this harness for a child it starts itself is at least the harness's own at the
# fork (the child's memory starts as a copy of it), and the harness holds the channel's
# 240 MB in memory: a small process in between starts the measured one instead.
_TRAMPOLINE = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss / 1024}, out)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measure(cmd: list[str]) -> tuple[float, float, float, dict[str, Any]]:
    """(wall s, CPU s, peak RSS MB, report) of ``cmd`` alone, through the trampoline."""
    with tempfile.NamedTemporaryFile(suffix=".json") as own:
        wall, _, _, report = measure_json([str(PYTHON), "-c", _TRAMPOLINE, own.name, *cmd])
        usage = json.loads(Path(own.name).read_text())
    return wall, usage["cpu"], usage["rss"], report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/mirrorkit-bench-conda"),
                        help="channel and mirror, kept between invocations")
    args = parser.parse_args()
    chan, names = generate(args.workdir, args.records)
    up = Upstream().start()
    for rel in ("linux-64/repodata.json", "linux-64/repodata.json.zst"):
        up.add(f"/chan/{rel}", (chan / rel).read_bytes(), last_modified=WHEN)
    publish_noarch(up)
    size_mb = (chan / "linux-64/repodata.json").stat().st_size / 1e6
    dest = args.workdir / f"mirror-{args.records}"
    base = ["conda", "--dest", str(dest), "--json", "--channel-url", f"{up.url}/chan",
            "--subdir", "linux-64"]
    rows: list[tuple[str, float, float, float, Any]] = []
    try:
        ref = measure([str(PYTHON), "-c", "import json,sys; json.load(open(sys.argv[1]))",
                       str(chan / "linux-64/repodata.json")])
        rows.append(("reference: json.load of repodata.json", *ref[:3], "-"))
        empty = args.workdir / "plan-empty"  # planned from nothing, every time
        shutil.rmtree(empty, ignore_errors=True)
        plan = measure([*mirrorkit_cmd("plan"), *base[:2], str(empty), *base[3:]])
        rows.append(("mirrorkit plan (fresh mirror)", *plan[:3], plan[3].get("files")))
        if not (dest / ".mirrorkit/manifest.json").exists():
            seed(dest, names)
            first = measure([*mirrorkit_cmd("run"), *base])
            rows.append(("run with repodata new to the mirror", *first[:3],
                         first[3].get("files")))
        publish_noarch(up)  # new to the mirror: the run re-plans noarch only
        changed = measure([*mirrorkit_cmd("run"), *base])
        assert changed[3]["conda"] == {"kept_subdirs": ["linux-64"],
                                       "parsed_subdirs": ["noarch"]}, changed[3].get("conda")
        rows.append(("noarch changed, linux-64 kept", *changed[:3], changed[3].get("files")))
        up.clear_log()
        noop = measure([*mirrorkit_cmd("run"), *base])
        assert noop[3]["conda"] == {"kept_plan": True}, noop[3].get("conda")
        rows.append(("no-op re-run", *noop[:3], noop[3].get("files")))
        requests = [f"{r.method} {r.path.rsplit('/', 2)[-2]}/{r.path.rsplit('/', 1)[-1]}"
                    for r in up.log]
    finally:
        up.stop()
    print(f"repodata.json: {args.records:,} records, {size_mb:.0f} MB")
    print(f"{'':40} {'wall s':>8} {'CPU s':>8} {'RSS MB':>8} {'files':>8}")
    for label, wall, cpu, rss, count in rows:
        print(f"{label:40} {wall:8.2f} {cpu:8.2f} {rss:8.0f} {count!s:>8}")
    print(f"no-op: {noop[3].get('downloaded')} downloaded, {len(requests)} requests upstream: "
          + ", ".join(requests))
    plan_ok = rows[1][1] < 15 and rows[1][3] < 1024
    print("targets: plan < 15 s and < 1 GB:", "met" if plan_ok else "NOT met",
          "| no-op < 1 s:", "met" if noop[0] < 1 else "NOT met")


if __name__ == "__main__":
    main()
