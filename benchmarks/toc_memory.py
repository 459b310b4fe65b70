"""Peak memory of ``bundles`` and ``import --check`` on a TOC of a million files.

    .venv/bin/python benchmarks/toc_memory.py                  # 10^6 files (~110 MB TOC)
    .venv/bin/python benchmarks/toc_memory.py --files 200000   # smaller, to try it

Writes one bundle (a 1 MiB part and a TOC listing ``--files`` entries) under --workdir,
runs each command as a child process and reads its peak RSS from ``wait4``; the same TOC
parsed whole (``Toc.loads``, what every command did before TOCs were read streaming) is
measured beside it for the ratio. Results go to stdout as one table; see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SNAP = "20260108T000000Z-bbbbbb"
NAME = f"demo-{SNAP}-full"


def write_bundle(out: Path, files: int) -> Path:
    """A zstd bundle (so no tar arithmetic applies) whose TOC lists ``files`` entries."""
    out.mkdir(parents=True, exist_ok=True)
    part = os.urandom(1024 * 1024)
    part_name = f"{NAME}.tar.zst.0000"
    (out / part_name).write_bytes(part)
    sha = hashlib.sha256(b"x").hexdigest()
    toc = out / f"{NAME}.toc.json"
    header = {
        "format": "mirrorkit-bundle/1", "name": NAME, "mirror": "demo",
        "registry": "static-list", "snapshot": SNAP, "base": None,
        "created": "2026-01-08T00:00:00+00:00", "compression": "zstd",
        "part_size": len(part), "size": len(part),
        "parts": [{"name": part_name, "size": len(part),
                   "sha256": hashlib.sha256(part).hexdigest()}],
        "tree_files": files, "tree_sha256": "0" * 64,
    }
    with open(toc, "w") as fh:  # as Toc.dumps writes it (indent 1), entry by entry
        fh.write(json.dumps(header, indent=1)[:-2] + ',\n "files": [\n')
        for i in range(files):
            entry = {"path": f"pool/main/p/pkg{i:07d}/pkg{i:07d}_1.0_amd64.deb", "size": 1,
                     "sha256": sha, "kind": "blob", "digest": None, "order": 0}
            text = json.dumps(entry, indent=1).replace("\n", "\n  ")
            fh.write(f"  {text}{',' if i + 1 < files else ''}\n")
        fh.write(' ],\n "deleted": []\n}\n')
    return toc


def measure(args: list[str]) -> tuple[int, float, float]:
    """(exit code, peak RSS in MB, seconds) of one child process."""
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0 and proc.stderr is not None:
        print(proc.stderr.read().decode()[-2000:], file=sys.stderr)
    return code, usage.ru_maxrss / 1024, took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=Path("/var/tmp/mirrorkit-bench-toc"))
    opts = ap.parse_args()
    out = opts.workdir / f"bundle-{opts.files}"
    shutil.rmtree(out, ignore_errors=True)
    toc = write_bundle(out, opts.files)
    print(f"TOC: {opts.files} files, {toc.stat().st_size / 1e6:.0f} MB ({toc})")
    cli = [PYTHON, "-m", "mirrorkit"]
    whole = [PYTHON, "-c", "import sys; from mirrorkit.core.bundle.toc import Toc; "
             "Toc.loads(open(sys.argv[1], 'rb').read(), where='t')", str(toc)]
    cap = ["--max-toc-size", "4GiB"]  # past the default cap: 1 MiB of parts beside 200 MB
    rows = [
        ("mirrorkit bundles DIR", [*cli, "bundles", *cap, str(out)]),
        ("mirrorkit import --check DIR", [*cli, "import", "--check", *cap, str(out)]),
        ("mirrorkit import --check TOC", [*cli, "import", "--check", *cap, str(toc)]),
        ("TOC parsed whole (Toc.loads)", whole),
    ]
    print(f"{'command':<32} {'exit':>4} {'peak RSS':>10} {'time':>8}")
    for label, args in rows:
        code, rss, took = measure(args)
        print(f"{label:<32} {code:>4} {rss:>8.0f}MB {took:>7.1f}s", flush=True)
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
