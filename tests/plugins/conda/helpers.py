"""What the conda tests share: running the CLI against a channel, reading a mirror."""

from __future__ import annotations

import bz2
import json
from pathlib import Path
from typing import Any

import zstandard

from tests.plugins.conda.channel import Channel
from tests.support.cli import Result, run_cli


def mirror(channel: Channel, dest: Path | str, *extra: str,
           subdirs: tuple[str, ...] = ("linux-64",), command: str = "run",
           env: dict[str, str] | None = None) -> Result:
    args: list[str] = [command, "conda", "--dest", str(dest), "--json",
                       "--channel-url", channel.url,
                       "--retries", "1", "--backoff-initial", "0", "--backoff-max", "0"]
    for subdir in subdirs:
        args += ["--subdir", subdir]
    return run_cli(*args, *extra, env=env)


def listed(repodata: dict[str, Any]) -> set[str]:
    return set(repodata.get("packages", {})) | set(repodata.get("packages.conda", {}))


def read_variants(dest: Path, subdir: str) -> dict[str, Any]:
    """Every repodata variant of a mirrored subdir, decoded (they must agree)."""
    raw = (dest / subdir / "repodata.json").read_bytes()
    out = {"json": json.loads(raw), "raw": raw}
    zst = dest / subdir / "repodata.json.zst"
    if zst.exists():
        out["zst"] = zstandard.ZstdDecompressor().decompressobj().decompress(zst.read_bytes())
    b2 = dest / subdir / "repodata.json.bz2"
    if b2.exists():
        out["bz2"] = bz2.decompress(b2.read_bytes())
    current = dest / subdir / "current_repodata.json"
    if current.exists():
        out["current"] = json.loads(current.read_bytes())
    return out
