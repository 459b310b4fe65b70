"""``mirrorkit status DIR``: disk usage of a mirror, per top-level directory and per kind.

What apt-mirror operators read off ``du`` and ``find | wc -l`` each week, in one command:
files and bytes per repository host (top-level directory) and per kind of file (binary
packages, installer packages, source files, index files), read from the disk itself so it
also tells the truth about files a manifest does not know.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import click

from .estimate import readable_size

__all__ = ["disk_usage", "status_command"]

_STATE = ".mirrorkit"


def _kind(rel: str) -> str:
    parts = rel.split("/")
    if "dists" in parts[:-1]:
        return "index"
    if rel.endswith(".deb"):
        return "deb"
    if rel.endswith(".udeb"):
        return "udeb"
    if "pool" in parts[:-1]:
        return "source"
    return "other"


def disk_usage(root: Path) -> dict[str, object]:
    """``{"files", "bytes", "top": {dir: {files, bytes}}, "kinds": {kind: {files, bytes}}}``."""
    top: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    files = total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == str(root):
            dirnames[:] = [d for d in dirnames if d != _STATE]
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            try:
                size = os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            head = rel.split("/", 1)[0] if "/" in rel else "."
            for bucket in (top[head], kinds[_kind(rel)]):
                bucket[0] += 1
                bucket[1] += size
            files += 1
            total += size
    return {"files": files, "bytes": total,
            "top": {k: {"files": v[0], "bytes": v[1]} for k, v in sorted(top.items())},
            "kinds": {k: {"files": v[0], "bytes": v[1]} for k, v in sorted(kinds.items())}}


@click.command("status")
@click.argument("dest", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as one JSON object.")
def status_command(dest: Path, as_json: bool) -> None:
    """Disk usage of a mirror: files and bytes per top-level directory and per kind."""
    usage = disk_usage(dest)
    if as_json:
        click.echo(json.dumps(usage))
        return
    for section in ("top", "kinds"):
        table = usage[section]
        assert isinstance(table, dict)
        click.echo("per top-level directory:" if section == "top" else "per kind:")
        for name, row in table.items():
            click.echo(f"  {name:<30} {row['files']:>9} files  {readable_size(row['bytes']):>12}")
    files, total = usage["files"], usage["bytes"]
    assert isinstance(files, int) and isinstance(total, int)
    click.echo(f"{dest}: {files} files, {readable_size(total)}")
