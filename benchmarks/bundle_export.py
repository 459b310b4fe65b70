"""Benchmark: ``mirrorkit export`` against the hand-made ``tar | split`` pipelines.

Builds a tree of incompressible files (like bottles) with a mirrorkit manifest, then times,
on the same tree and with a warm page cache, each of:

* ``mirrorkit export DEST --to OUT --full --part-size P`` (tar stream cut into parts, every
  part hashed with sha256, a TOC written),
* ``tar -cf - . | split -b P`` (no hashing, no TOC),
* ``tar -cf - . | split -b P --filter 'tee $FILE | sha256sum'`` (the same with a sha256
  per part, which is what the TOC needs),
* ``tar -czf - . | split -b P`` (what operators do today),

reporting throughput (tree bytes / wall time) and the peak RSS of each command (from
``wait4``, so it covers the process tree). Usage::

    .venv/bin/python benchmarks/bundle_export.py --size-mb 1024 --part-size 256MiB
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _harness import mirrorkit_cmd

from mirrorkit.core.store.manifest import FileEntry, Manifest
from mirrorkit.sinks.bundle.commands import parse_size

SIZES = [64 * 1024, 512 * 1024, 4 * 1024 * 1024, 32 * 1024 * 1024]


def build_tree(root: Path, total: int) -> int:
    """Incompressible files of mixed sizes until ``total`` bytes; returns the bytes written."""
    if (root / ".mirrorkit" / "manifest.json").exists():
        return sum(e.size for e in _load(root).files.values())
    shutil.rmtree(root, ignore_errors=True)
    manifest = Manifest(mirror="bench", registry="bench", snapshot="20260101T000000Z-bench0")
    written, i = 0, 0
    while written < total:
        size = min(SIZES[i % len(SIZES)], total - written)
        data = os.urandom(size)
        path = f"blobs/{i % 97:02d}/{i:06d}.bin"
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)
        manifest.files[path] = FileEntry(size=size, sha256=hashlib.sha256(data).hexdigest())
        written += size
        i += 1
    manifest.save(root)
    return written


def _load(root: Path) -> Manifest:
    from mirrorkit.core.store.manifest import load_manifest

    m = load_manifest(root)
    assert m is not None
    return m


def run(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user+sys) and peak RSS (bytes) of ``cmd``.

    GNU time measures from a fresh exec, so the benchmark's own memory does not leak
    into the figure (``ru_maxrss`` of a forked child starts at its parent's).
    """
    with tempfile.NamedTemporaryFile("r") as out:
        start = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-o", out.name, "-f", "%U %S %M", *cmd],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        elapsed = time.perf_counter() - start
        user, system, rss_kb = out.read().split()[-3:]
    return elapsed, float(user) + float(system), int(rss_kb) * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/mirrorkit-bench-bundle"))
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--part-size", default="256MiB")
    ap.add_argument("--repeat", type=int, default=3,
                    help="Runs per command (the run with the median wall time is shown).")
    args = ap.parse_args()
    part = parse_size(args.part_size)
    tree, out = args.dir / "tree", args.dir / "out"
    total = build_tree(tree, args.size_mb * 1024 * 1024)
    subprocess.run(["tar", "-cf", "/dev/null", "-C", str(tree), "."], check=True)  # warm cache
    cases = {
        "mirrorkit export": mirrorkit_cmd("export", str(tree), "--to", str(out), "--full",
                                          "--part-size", str(part)),
        "tar -cf | split -b": ["bash", "-c", f"tar -cf - -C {tree} --exclude=.mirrorkit . | "
                               f"split -b {part} - {out}/bundle.tar."],
        "tar -cf | split -b --filter 'tee | sha256sum'": [
            "bash", "-c", f"tar -cf - -C {tree} --exclude=.mirrorkit . | split -b {part} "
            f"--filter='tee $FILE | sha256sum > $FILE.sha256' - {out}/bundle.tar."],
        "tar -czf | split -b": ["bash", "-c", f"tar -czf - -C {tree} --exclude=.mirrorkit . | "
                                f"split -b {part} - {out}/bundle.tar.gz."],
    }
    runs: dict[str, list[tuple[float, float, int]]] = {label: [] for label in cases}
    for _ in range(args.repeat):  # rounds interleaved, so background noise hits every command
        for label, cmd in cases.items():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            subprocess.run(["sync"], check=True)  # start each run without others' dirty pages
            runs[label].append(run(cmd))
    results = {label: sorted(measured)[len(measured) // 2] for label, measured in runs.items()}
    shutil.rmtree(out, ignore_errors=True)
    base = results["mirrorkit export"][0]
    print(f"tree: {total / 1e6:.0f} MB in {len(_load(tree).files)} files, parts of "
          f"{args.part_size}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print("| command | wall s | MB/s | CPU s | peak RSS | mirrorkit throughput vs this |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, (t, cpu, rss) in results.items():
        shown = label.replace("|", "\\|")
        print(f"| `{shown}` | {t:.2f} | {total / 1e6 / t:.0f} | {cpu:.2f} | {rss / 1e6:.0f} MB "
              f"| {t / base:.2f}x |")


if __name__ == "__main__":
    main()
