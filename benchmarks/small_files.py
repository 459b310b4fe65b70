"""Scenario 1: many small files behind a fixed per-request latency.

5,000 files of 20 KB, each answered 20 ms late by the server (see ``Nginx``). This is the
shape of a bottle mirror's daily delta and of every index-heavy registry: the time goes into
waiting for first bytes, so what counts is how many requests a tool keeps in flight and how
little it spends between them.
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
    set_aside,
)

__all__ = ["prepare", "run"]

SUBDIR = "small"


def prepare(root: Path, count: int, size: int) -> list[dict[str, object]]:
    """Create ``count`` random files of ``size`` bytes and the static-list index naming them."""

    def build(base: Path) -> list[dict[str, object]]:
        items: list[dict[str, object]] = []
        for n in range(count):
            rel = f"{n // 100:03d}/f{n:05d}.bin"
            data = os.urandom(size)
            path = base / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            items.append({"path": f"{SUBDIR}/{rel}", "url": rel,
                          "sha256": hashlib.sha256(data).hexdigest(), "size": size})
        return items

    return cached_index(root / "fast" / SUBDIR, f"{count}x{size}", build)


def _check_tree(dest: Path, files: int, size: int) -> Callable[[str], None]:
    def check(_: str) -> None:
        found = [p for p in (dest / SUBDIR).rglob("*.bin") if p.is_file()]
        total = sum(p.stat().st_size for p in found)
        if len(found) != files or total != files * size:
            raise RuntimeError(f"{dest}: {len(found)} files, {total} bytes; "
                               f"expected {files} files of {size}")
    return check


def _check_report(dest: Path, files: int, size: int) -> Callable[[str], None]:
    tree = _check_tree(dest, files, size)

    def check(out: str) -> None:
        report = json.loads(out)
        if report["status"] != "ok" or report["downloaded"] < files:
            raise RuntimeError(f"mirrorkit: {report['status']}, downloaded "
                               f"{report['downloaded']} of {files}: {report['errors'][:2]}")
        tree(out)
    return check


def run(server: Nginx, work: Path, items: list[dict[str, object]], size: int, *,
        runs: int, parallel: int, sequential_sample: int,
        log: Callable[[str], None]) -> list[Row]:
    count = len(items)
    url = f"{server.slow}/{SUBDIR}"
    work.mkdir(parents=True, exist_ok=True)
    dest = work / "dest"
    trash = work / "trash"
    sample = items[: min(sequential_sample, count)]

    aria_list = work / "aria2.txt"
    aria_list.write_text("".join(f"{url}/{it['url']}\n  out={it['path']}\n" for it in items))
    curl_cfg = work / "curl.cfg"
    curl_cfg.write_text("".join(f'url = "{url}/{it["url"]}"\noutput = "{dest}/{it["path"]}"\n'
                                for it in items))
    seq_list = work / "sequential.txt"
    seq_list.write_text("".join(f"{url}/{it['url']} {dest}/{it['path']}\n" for it in sample))

    rows = [
        Row("small files", "mirrorkit", f"mirrorkit run static-list --concurrency {parallel} "
            "(sha256 verified)", is_mirrorkit=True),
        Row("small files", "aria2c", f"aria2c -j {parallel} -i list --file-allocation=none"),
        Row("small files", "curl --parallel", f"curl --parallel --parallel-max {parallel} -K cfg"),
        Row("small files", "sequential curl",
            "while read u o; do curl -o $o $u; done"
            + (f" ({len(sample)}-file sample)" if len(sample) < count else "")),
    ]
    for row in rows:
        n = len(sample) if row.tool == "sequential curl" else count
        row.work_files, row.work_bytes = n, n * size

    def commands(tool: str) -> tuple[list[str] | str, Callable[[str], None]]:
        if tool == "mirrorkit":
            return (mirrorkit_cmd("run", "static-list", "--index-url", f"{url}/index.json",
                                  "--dest", str(dest), "--json", "--concurrency", str(parallel),
                                  "--per-host", str(parallel)),
                    _check_report(dest, count, size))
        if tool == "aria2c":
            return (["aria2c", "-i", str(aria_list), "-d", str(dest), "-j", str(parallel),
                     "--max-connection-per-server=1", "--split=1", "--file-allocation=none",
                     "--allow-overwrite=true", "--auto-file-renaming=false",
                     "--console-log-level=error", "--summary-interval=0", "-q",
                     *ARIA2_TUNING],
                    _check_tree(dest, count, size))
        if tool == "curl --parallel":
            return (["curl", "--parallel", "--parallel-max", str(parallel), "--create-dirs",
                     "-sS", "--fail", "-K", str(curl_cfg)],
                    _check_tree(dest, count, size))
        return (f"while read -r u o; do curl -sS --fail --create-dirs -o \"$o\" \"$u\"; "
                f"done < {seq_list}", _check_tree(dest, len(sample), size))

    run_rounds(rows, runs, commands, label="small files", log=log,
               rate=lambda row, m: f"{row.work_files / m.wall_s:.0f} files/s",
               before_each=lambda: set_aside(dest, trash))  # not deleted yet: see set_aside
    rmtree(dest)
    rmtree(trash)
    return rows
