"""Finding LFS pointers in a repository: mirrorkit's scan against git-lfs's own, in one command.

    .venv/bin/python benchmarks/git_lfs_scan.py [--files 20000] [--commits 300] [--runs 3]

Builds (once, with ``git fast-import``) a bare repository whose tree holds ``--files`` files,
one in five an LFS pointer, changed over ``--commits`` commits (a tag every 10), then times:

- mirrorkit, whole history (``--lfs-history``): ``rev-list --objects --filter=blob:limit=1024``
  into ``cat-file --batch-check`` and ``cat-file --batch``;
- ``git lfs ls-files --all --long``, git-lfs's scan of the same history (the peer);
- mirrorkit, branch and tag tips (the default), uncached;
- mirrorkit on an unchanged re-run (the cached answer).

Prints the medians and mirrorkit's ratio to git-lfs. Needs git and git-lfs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mirrorkit.plugins.git.lfs import _scan, _tips, scan_pointers

T = TypeVar("T")


def _pointer(i: int, version: int) -> bytes:
    oid = hashlib.sha256(b"%d/%d" % (i, version)).hexdigest()
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\n"
            f"size {1000 + i}\n").encode()


def build(repo: Path, files: int, commits: int) -> int:
    """The repository (fast-import stream); returns how many distinct pointers it holds."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
    stream = bytearray()
    oids: set[bytes] = set()
    for c in range(commits):
        stream += b"commit refs/heads/main\nmark :%d\n" % (c + 1)
        stream += b"committer Bench <b@example.invalid> %d +0000\n" % (1_700_000_000 + c)
        stream += b"data 3\nc%d\n" % (c % 10)
        changed = range(files) if c == 0 else range(c % 50, files, max(1, files // 50))
        for i in changed:
            if i % 5 == 0:
                body = _pointer(i, c)
                oids.add(body)
                name = b"media/%d.bin" % i
            else:
                body = (b"source line %d of commit %d\n" % (i, c)) * (1 + i % 40)
                name = b"src/%d/%d.txt" % (i % 100, i)
            stream += b"M 100644 inline %s\ndata %d\n%s\n" % (name, len(body), body)
        if c % 10 == 9:
            stream += b"reset refs/tags/v%d\nfrom :%d\n\n" % (c, c + 1)
    subprocess.run(["git", f"--git-dir={repo}", "fast-import", "--quiet"], input=bytes(stream),
                   check=True)
    subprocess.run(["git", f"--git-dir={repo}", "repack", "-a", "-d", "-q"], check=True)
    return len(oids)


def timed(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--commits", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/var/tmp/mirrorkit-bench-lfs"))
    args = ap.parse_args()
    repo = args.workdir / f"repo-{args.files}-{args.commits}.git"
    if not (repo / "HEAD").is_file():
        args.workdir.mkdir(parents=True, exist_ok=True)
        total = build(repo, args.files, args.commits)
        print(f"built {repo}: {total} pointer versions", file=sys.stderr)
    tips = _tips(repo)

    ours_all, found = timed(lambda: _scan(repo, tips, True), args.runs)

    def peer() -> int:
        out = subprocess.run(["git", "lfs", "ls-files", "--all", "--long"], cwd=repo,
                             capture_output=True, check=True,
                             env={**os.environ, "GIT_DIR": str(repo)})
        return len({line.split()[0] for line in out.stdout.splitlines() if line.strip()})

    peer_all, peer_found = timed(peer, args.runs)
    ours_tips, tip_found = timed(lambda: _scan(repo, tips, False), args.runs)
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache.json"
        scan_pointers(repo, cache, history=False)
        cached, _ = timed(lambda: scan_pointers(repo, cache, history=False), args.runs)
    print(f"repository: {args.files} files, {args.commits} commits, {len(tips)} refs")
    print(f"whole history: mirrorkit {ours_all:.2f}s ({len(found)} objects), "
          f"git lfs ls-files --all {peer_all:.2f}s ({peer_found} objects): "
          f"mirrorkit {peer_all / ours_all:.1f}x faster")
    print(f"tips, uncached: mirrorkit {ours_tips:.2f}s ({len(tip_found)} objects)")
    print(f"unchanged re-run (cached): mirrorkit {cached * 1000:.1f} ms")


if __name__ == "__main__":
    main()
