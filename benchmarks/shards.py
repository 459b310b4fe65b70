"""One run sharded over 1, 2 and 4 workers, each behind a link of its own, into one bucket.

    .venv/bin/python benchmarks/shards.py [--files 240] [--size 800000] [--rate 2.0]
        [--latency-ms 20] [--runs 3] [--workers 1,2,4] [--unsharded]

The defaults (192 MB, 97 s for one worker) take about 9 minutes for 3 runs of 1, 2 and 4
workers on 2 cores; the links, at 8 MB/s for 4 workers together, keep the CPU mostly idle.

The upstream is a ``static-list`` index of ``--files`` random files (sizes uniform between
half and one and a half ``--size``), reached by every worker at the same URL through its
own link: an HTTP proxy that serves the files at ``--rate`` MB/s shared by all the worker's
connections, after ``--latency-ms`` per request (``benchmarks/_links.py`` says why this and
not a limit per connection). The bucket is moto in a process of its own
(``benchmarks/_s3.py``), fresh for every run. Each worker is the real command line of
examples/k8s-indexed-job.yaml: ``mirrorkit run static-list ... --dest s3://... --shard auto
--shards N`` with ``JOB_COMPLETION_INDEX`` set, all started at once.

Measured per run (rounds interleaved, medians shown):

- **throughput**: the files' bytes over the wall time from starting the workers to the
  last one's exit (the commit included), and its ratio to one shard's;
- **commit**: the committing worker's commit phase, from the store's answer to the PUT of
  its record (``.mirrorkit/shards/<base>/<i>.json``: its share is done) to its exit;
  that is adopting the records, the index, the state and cleaning up;
- **start-up**: from the start to each worker's first request on its link (the process's
  start-up, its S3 client and its shard lock, up to fetching the index), the median over the
  workers;
- **first file**: from the start to each worker's first stored file (start-up, planning and
  one download: what every worker pays), the median over the workers;
- CPU: every worker's (``wait4``), moto's (``/proc``) and the links' (this process's own,
  ``getrusage``, while the workers run), as a share of the 2 cores, to show that the links,
  not the CPU, set the pace.

Targets: 2 workers at least 1.8x and 4 workers at least 3.4x one shard's throughput; the
commit under 10% of the one-shard run's wall time. Next to each ratio, the same without the
start-up (wall time minus the median start-up, both runs): on one machine N workers start on
its 2 cores at once, where N machines would each start on their own.

Each run's bucket is checked: every file stored at its size, and in the published state
with its size and sha256; with --shard, exactly one worker committed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# this checkout's mirrorkit and example plugin before any installed copy (the venv may hold
# an editable install of another checkout); the workers get the same through PYTHONPATH
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
sys.path.insert(2, str(Path(__file__).resolve().parents[1] / "examples/mirrorkit-static-list"))

import boto3
from _harness import PYTHON, free_port, mirrorkit_cmd
from _links import Links
from _s3 import S3Server

from mirrorkit.core.run.shards import ShardSpec

CODE = sys.path[1:3]  # this checkout's mirrorkit and plugin, first in every worker's path
HOST = "upstream.bench"  # reached only through the links (no DNS)
BUCKET = "shards-bench"
PREFIX = "mirror"
TARGET_SPEEDUP = {2: 1.8, 4: 3.4}
TARGET_COMMIT = 0.10


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------- upstream
def build_files(count: int, size: int,
                balance: int) -> tuple[dict[str, bytes], dict[str, tuple[int, str]]]:
    """The upstream's URL paths and bodies (index included); each mirror path's size, sha256.

    Balanced for ``balance`` workers: names are drawn in order until each worker's share
    (by the hash split of the run) has ``count / balance`` files, and every share gets the
    same sizes. A registry of hundreds of thousands of files splits evenly by itself; 2,000
    names did not (the largest of 4 shares held 28% of the bytes), and the benchmark
    is about what sharding costs, not about how a few hundred names happen to hash. A count of
    workers that divides ``balance`` is balanced too (its shares are unions of these).
    """
    rnd = random.Random(count * 7919 + size)
    per_share = count // balance
    sizes_of_share = [rnd.randint(size // 2, size * 3 // 2) for _ in range(per_share)]
    specs = [ShardSpec(i, balance) for i in range(balance)]
    taken = [0] * balance
    files: dict[str, bytes] = {}
    entries = []
    sizes = {}
    i = 0
    while min(taken) < per_share:
        path = f"pool/{i % 97:02d}/pkg-{i:05d}.bin"
        i += 1
        owner = next(k for k, spec in enumerate(specs) if spec.owns(path))
        if taken[owner] == per_share:
            continue
        body = rnd.randbytes(sizes_of_share[taken[owner]])
        taken[owner] += 1
        files[f"/files/{path}"] = body
        sizes[path] = (len(body), hashlib.sha256(body).hexdigest())
        entries.append({"path": path, "url": f"files/{path}", "sha256": sizes[path][1],
                        "size": len(body)})
    files["/index.json"] = json.dumps(entries).encode()
    return files, sizes


def shares(sizes: dict[str, tuple[int, str]], count: int) -> list[int]:
    """The bytes each of ``count`` workers downloads (the hash split of the paths)."""
    out = [0] * count
    for path, (size, _) in sizes.items():
        out[next(i for i in range(count) if ShardSpec(i, count).owns(path))] += size
    return out


# ----------------------------------------------------------------------- one run
@dataclass
class Run:
    workers: int  # 0: an unsharded run
    wall: float
    commit: float
    start_up: float
    first_file: float
    cpu_workers: float
    cpu_s3: float
    cpu_links: float
    reports: list[dict[str, Any]] = field(default_factory=list)


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(workers: int, links: Links, sizes: dict[str, tuple[int, str]],
             work: Path) -> Run:
    """``workers`` processes (0: one without --shard) into a fresh bucket; checked."""
    links.reset()
    with S3Server(PYTHON, free_port(), work / "s3.log") as s3:
        client = boto3.client("s3", endpoint_url=s3.endpoint, aws_access_key_id="bench",
                              aws_secret_access_key="bench", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        assert s3.proc is not None
        s3_cpu_before = proc_cpu(s3.proc.pid)
        count = max(workers, 1)
        base = [*mirrorkit_cmd("run", "static-list", "--index-url",
                               f"http://{HOST}/index.json", "--dest",
                               f"s3://{BUCKET}/{PREFIX}", "--json")]
        shard = ["--shard", "auto", "--shards", str(workers)] if workers else []
        procs = []
        own_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.time()
        for i in range(count):
            env = {k: v for k, v in os.environ.items()
                   if not k.lower().endswith("_proxy") and not k.startswith("AWS_")}
            env.update(s3.env(), HTTP_PROXY=links.links[i].proxy,
                       PYTHONPATH=os.pathsep.join([*CODE, env.get("PYTHONPATH", "")]),
                       NO_PROXY="127.0.0.1,localhost", JOB_COMPLETION_INDEX=str(i))
            out = (work / f"worker-{i}.json").open("wb")
            err = (work / f"worker-{i}.log").open("wb")
            procs.append((subprocess.Popen([*base, *shard], env=env, stdout=out, stderr=err),
                          out, err))
        ended: dict[int, float] = {}
        cpu = 0.0
        by_pid = {p.pid: i for i, (p, _, _) in enumerate(procs)}
        while len(ended) < count:
            pid, status, usage = os.wait4(-1, 0)
            if pid not in by_pid:
                continue
            i = by_pid[pid]
            ended[i] = time.time()
            cpu += usage.ru_utime + usage.ru_stime
            code = os.waitstatus_to_exitcode(status)
            procs[i][0].returncode = code
            if code != 0:
                tail = (work / f"worker-{i}.log").read_text(errors="replace")[-800:]
                raise SystemExit(f"worker {i} of {count} exited {code}: {tail}")
        own = resource.getrusage(resource.RUSAGE_SELF)
        cpu_links = (own.ru_utime - own_before.ru_utime) + (own.ru_stime - own_before.ru_stime)
        for _, out, err in procs:
            out.close()
            err.close()
        s3_cpu = proc_cpu(s3.proc.pid) - s3_cpu_before
        reports = [json.loads((work / f"worker-{i}.json").read_bytes()) for i in range(count)]
        check_bucket(client, sizes, reports, workers)
        writes = s3.writes()
    wall = max(ended.values()) - started
    committer = next((i for i, r in enumerate(reports)
                      if r.get("notes", {}).get("shard", {}).get("commit") == "this worker"),
                     0)
    if workers:
        record = [t for t, method, path in writes if method == "PUT"
                  and path.endswith(f"/.mirrorkit/shards/new/{committer}.json")]
        commit = ended[committer] - min(record)
    else:  # a plain run stores every blob in its commit: from the first one to its exit
        blobs = [t for t, method, path in writes if method == "PUT" and "/pool/" in path]
        commit = ended[0] - min(blobs)
    first = []
    for i in range(count):
        spec = ShardSpec(i, count)
        mine = [t for t, method, path in writes if method == "PUT" and "/pool/" in path
                and spec.owns(path.split(f"/{PREFIX}/", 1)[1])]
        if mine:
            first.append(min(mine) - started)
    start_up = statistics.median(link.first_request - started for link in links.links[:count]
                                 if link.first_request is not None)
    return Run(workers, wall, commit, start_up, statistics.median(first), cpu, s3_cpu,
               cpu_links, reports)


def check_bucket(client: Any, sizes: dict[str, tuple[int, str]],
                 reports: list[dict[str, Any]], workers: int) -> None:
    """The run did the whole job: every file at its size in the bucket, and in the state
    with its size and sha256."""
    if workers:
        commits = [r["notes"]["shard"].get("commit") for r in reports]
        if commits.count("this worker") != 1:
            raise SystemExit(f"expected one committing worker, got {commits}")
    state = json.loads(client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/.mirrorkit/"
                                         "published.json")["Body"].read())["files"]
    stored = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                                  Prefix=f"{PREFIX}/pool/"):
        for obj in page.get("Contents", ()):
            stored[obj["Key"][len(PREFIX) + 1:]] = obj["Size"]
    published = {p: (e["size"], e["sha256"]) for p, e in state.items() if p in sizes}
    if stored != {p: size for p, (size, _) in sizes.items()} or published != sizes:
        raise SystemExit(f"the bucket does not hold the {len(sizes)} files "
                         f"({len(stored)} stored, {len(state)} in the state)")


# ----------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=240)
    ap.add_argument("--size", type=int, default=800_000, help="mean file size, bytes")
    ap.add_argument("--rate", type=float, default=2.0, help="each link's rate, MB/s")
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--unsharded", action="store_true",
                    help="also a run without --shard (a plain run into the bucket)")
    args = ap.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    configs = ([0] if args.unsharded else []) + counts
    files, sizes = build_files(args.files, args.size, max(counts))
    total = sum(size for size, _ in sizes.values())
    log(f"{args.files} files, {total / 1e6:.1f} MB; links of {args.rate:g} MB/s, "
        f"{args.latency_ms:g} ms a request; load average {os.getloadavg()[0]:.1f}")
    runs: dict[int, list[Run]] = {n: [] for n in configs}
    with Links(files, max(counts), rate=args.rate * 1e6,
               latency=args.latency_ms / 1000) as links, \
            tempfile.TemporaryDirectory(prefix="mirrorkit-shards-") as tmp:
        for r in range(args.runs):
            for n in configs:
                work = Path(tmp) / f"{n}-{r}"
                work.mkdir()
                run = run_once(n, links, sizes, work)
                runs[n].append(run)
                log(f"run {r + 1}/{args.runs}, {label(n)}: {run.wall:.1f}s, "
                    f"{total / 1e6 / run.wall:.2f} MB/s, commit {run.commit:.2f}s, "
                    f"start-up {run.start_up:.1f}s, first file {run.first_file:.1f}s, "
                    f"CPU {run.cpu_workers:.1f}s workers "
                    f"+ {run.cpu_s3:.1f}s moto + {run.cpu_links:.1f}s links; "
                    f"load average {os.getloadavg()[0]:.1f}")
    print(render(runs, counts, sizes, total, args))


def label(n: int) -> str:
    return "unsharded" if n == 0 else f"{n} worker{'s' if n > 1 else ''}"


def render(runs: dict[int, list[Run]], counts: list[int], sizes: dict[str, tuple[int, str]],
           total: int, args: argparse.Namespace) -> str:
    def med(n: int, what: str) -> float:
        return statistics.median(float(getattr(run, what)) for run in runs[n])

    one = med(1, "wall") if 1 in runs else med(min(counts), "wall")
    lines = ["", f"{args.files} files, {total / 1e6:.1f} MB; each worker's link "
             f"{args.rate:g} MB/s with {args.latency_ms:g} ms a request; medians of "
             f"{args.runs} runs", "",
             "| run | wall s | MB/s | vs 1 shard | largest share | commit s | commit / 1 shard "
             "| start-up s | first file s | CPU s (workers + moto + links) | CPU busy |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in runs:
        wall = med(n, "wall")
        split = shares(sizes, max(n, 1))
        cpu = med(n, "cpu_workers") + med(n, "cpu_s3") + med(n, "cpu_links")
        # a plain run stores nothing before its commit, which uploads every file
        first = "-" if n == 0 else f"{med(n, 'first_file'):.1f}"
        lines.append(
            f"| {label(n)} | {wall:.1f} | {total / 1e6 / wall:.2f} | {one / wall:.2f}x | "
            f"{max(split) / total:.1%} | {med(n, 'commit'):.2f} | "
            f"{med(n, 'commit') / one:.1%} | {med(n, 'start_up'):.1f} | {first} | "
            f"{med(n, 'cpu_workers'):.1f} + {med(n, 'cpu_s3'):.1f} + "
            f"{med(n, 'cpu_links'):.1f} | "
            f"{cpu / wall / 2:.0%} of 2 cores |")
    lines.append("")
    for n, target in TARGET_SPEEDUP.items():
        if n in runs and 1 in runs:
            got = one / med(n, "wall")
            # the same without each run's start-up (which N workers on these 2 cores pay
            # together, and N machines each on its own): what the links and commit give
            after = (one - med(1, "start_up")) / (med(n, "wall") - med(n, "start_up"))
            lines.append(f"- {n} workers: {got:.2f}x one shard's throughput (target >= "
                         f"{target}x): {'met' if got >= target else 'NOT met'}; "
                         f"{after:.2f}x after the start-up")
    if 1 in runs:
        worst = max(med(n, "commit") for n in counts)  # the sharded runs' commits
        lines.append(f"- commit: at most {worst:.2f}s, {worst / one:.1%} of the one-shard run "
                     f"(target < {TARGET_COMMIT:.0%}): "
                     f"{'met' if worst / one < TARGET_COMMIT else 'NOT met'}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
