"""Scenario 2: a few large files from nginx over loopback.

4 files of 1 GiB, no added latency: here the network is as fast as memory, so the client's
own cost per byte (copies, hashing, writing) is what is measured. mirrorkit verifies sha256
while streaming; the peers do not verify at all.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from _harness import (
    ARIA2_TUNING,
    Nginx,
    Row,
    cached_index,
    mirrorkit_cmd,
    rmtree,
    run_rounds,
)

__all__ = ["prepare", "run"]

SUBDIR = "large"


def prepare(root: Path, count: int, size: int) -> list[dict[str, object]]:
    """Create ``count`` random files of ``size`` bytes (reused across harness runs)."""

    def build(base: Path) -> list[dict[str, object]]:
        items: list[dict[str, object]] = []
        block = 8 * 1024 * 1024
        for n in range(count):
            name = f"big{n}.bin"
            sha = hashlib.sha256()
            with open(base / name, "wb") as fh:
                left = size
                while left:
                    data = os.urandom(min(block, left))
                    fh.write(data)
                    sha.update(data)
                    left -= len(data)
            items.append({"path": f"{SUBDIR}/{name}", "url": name,
                          "sha256": sha.hexdigest(), "size": size})
        return items

    return cached_index(root / "fast" / SUBDIR, f"{count}x{size}", build)


def _check_tree(dest: Path, items: list[dict[str, object]]) -> Callable[[str], None]:
    def check(_: str) -> None:
        for it in items:
            path = dest / str(it["path"])
            if not path.is_file() or path.stat().st_size != it["size"]:
                raise RuntimeError(f"{path}: missing or wrong size")
    return check


def run(server: Nginx, work: Path, items: list[dict[str, object]], *, runs: int,
        log: Callable[[str], None]) -> list[Row]:
    url = f"{server.fast}/{SUBDIR}"
    n = len(items)
    total = sum(int(str(it["size"])) for it in items)
    work.mkdir(parents=True, exist_ok=True)
    dest = work / "dest"
    aria_list = work / "aria2.txt"
    aria_list.write_text("".join(f"{url}/{it['url']}\n  out={it['path']}\n" for it in items))
    curl_cfg = work / "curl.cfg"
    curl_cfg.write_text("".join(f'url = "{url}/{it["url"]}"\noutput = "{dest}/{it["path"]}"\n'
                                for it in items))
    wget_script = (f"mkdir -p {dest}/{SUBDIR}; "
                   + " ".join(f"wget -q -O {dest}/{it['path']} {url}/{it['url']} &"
                              for it in items)
                   + " for j in $(jobs -p); do wait $j; done")

    def check_mk(out: str) -> None:
        report = json.loads(out)
        if report["status"] != "ok":
            raise RuntimeError(f"mirrorkit: {report['status']}: {report['errors'][:2]}")
        _check_tree(dest, items)(out)

    tools: dict[str, tuple[list[str] | str, Callable[[str], None], str]] = {
        "mirrorkit": (mirrorkit_cmd("run", "static-list", "--index-url", f"{url}/index.json",
                                    "--dest", str(dest), "--json"), check_mk,
                      f"mirrorkit run static-list (sha256 verified, {n} in flight)"),
        "aria2c": (["aria2c", "-i", str(aria_list), "-d", str(dest), "-j", str(n),
                    "--max-connection-per-server=1", "--split=1", "--file-allocation=none",
                    "--allow-overwrite=true", "--auto-file-renaming=false",
                    "--console-log-level=error", "--summary-interval=0", "-q",
                    *ARIA2_TUNING],
                   _check_tree(dest, items), f"aria2c -j {n} --file-allocation=none"),
        "curl --parallel": (["curl", "--parallel", "--parallel-max", str(n), "--create-dirs",
                             "-sS", "--fail", "-K", str(curl_cfg)], _check_tree(dest, items),
                            f"curl --parallel --parallel-max {n}"),
        "wget": (wget_script, _check_tree(dest, items), f"{n} x wget -O file url, in parallel"),
    }
    rows = [Row("large files", tool, cmd, work_bytes=total, work_files=n,
                is_mirrorkit=tool == "mirrorkit") for tool, (_, _, cmd) in tools.items()]
    run_rounds(rows, runs, lambda tool: tools[tool][:2], label="large files", log=log,
               rate=lambda _, m: f"{total / 1e6 / m.wall_s:.0f} MB/s, {m.cpu_s:.1f} CPU s",
               before_each=lambda: rmtree(dest))
    rmtree(dest)
    return rows
