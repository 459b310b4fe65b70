"""Scenario 5: re-hash a whole mirror, ``mirrorkit verify`` against ``sha256sum -c``.

The tree is the large files plus the small files of scenarios 1 and 2, mirrored once by
mirrorkit (not timed). Both tools check every file against a known sha256; the files are in
the page cache for both, so this measures hashing and per-file cost, not the disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from _harness import Nginx, Row, measure, mirrorkit_cmd, rmtree, run_rounds

__all__ = ["run"]


def run(server: Nginx, root: Path, work: Path, items: list[dict[str, object]], *,
        runs: int, log: Callable[[str], None]) -> list[Row]:
    """``items`` are index entries whose ``url`` is relative to ``/fast/<top dir of path>/``."""
    work.mkdir(parents=True, exist_ok=True)
    index = root / "fast" / "verify" / "index.json"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(json.dumps([
        {**it, "url": f"../{str(it['path']).split('/')[0]}/{it['url']}"} for it in items
    ]))
    dest = work / "mirror"
    rmtree(dest)
    log(f"verify: mirroring {len(items)} files once to build the tree")
    measure(mirrorkit_cmd("run", "static-list", "--index-url",
                          f"{server.fast}/verify/index.json", "--dest", str(dest), "--json"))
    total = sum(int(str(it["size"])) for it in items)

    sums = work / "SHA256SUMS"
    sums.write_text("".join(f"{it['sha256']}  {it['path']}\n" for it in items))
    # the same list cut in two halves of equal bytes, for two sha256sum processes
    halves: list[list[dict[str, object]]] = [[], []]
    sizes = [0, 0]
    for it in sorted(items, key=lambda i: -int(str(i["size"]))):
        k = 0 if sizes[0] <= sizes[1] else 1
        halves[k].append(it)
        sizes[k] += int(str(it["size"]))
    for k, half in enumerate(halves):
        (work / f"SHA256SUMS.{k}").write_text(
            "".join(f"{it['sha256']}  {it['path']}\n" for it in half))

    def check_mk(out: str) -> None:
        result = json.loads(out)
        if not result["ok"] or result["checked"] < len(items):
            raise RuntimeError(f"mirrorkit verify: {out[:300]}")

    tools: dict[str, tuple[list[str] | str, Callable[[str], None] | None, str]] = {
        "mirrorkit verify": (mirrorkit_cmd("verify", str(dest), "--json"), check_mk,
                             "mirrorkit verify DEST"),
        "sha256sum": (f"cd {dest} && sha256sum --quiet -c {sums}", None,
                      "sha256sum --quiet -c SHA256SUMS"),
        "2 x sha256sum": (f"cd {dest} && (sha256sum --quiet -c {work}/SHA256SUMS.0 & "
                          f"sha256sum --quiet -c {work}/SHA256SUMS.1 & "
                          "for j in $(jobs -p); do wait $j; done)", None,
                          "two sha256sum -c, half the bytes each"),
    }
    rows = [Row("verify", tool, cmd, work_bytes=total, work_files=len(items),
                is_mirrorkit=tool.startswith("mirrorkit")) for tool, (_, _, cmd) in tools.items()]
    run_rounds(rows, runs, lambda tool: tools[tool][:2], label="verify", log=log,
               rate=lambda _, m: f"{total / 1e6 / m.wall_s:.0f} MB/s")
    rmtree(dest)
    return rows
