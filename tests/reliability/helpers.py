"""Shared pieces of the reliability tests: upstream versions, run arguments, mirror state."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from tests.support.static_list import index_url
from tests.support.upstream import Upstream

__all__ = ["chaos_args", "first_version", "leftover_temp_files", "next_version"]


def first_version(rng: random.Random, count: int) -> dict[str, bytes]:
    return {f"pool/v0/f{i:03d}.bin": rng.randbytes(rng.randrange(20_000, 120_000))
            for i in range(count)}


def next_version(rng: random.Random, files: dict[str, bytes], number: int
                 ) -> tuple[dict[str, bytes], str]:
    """Half the files removed, as many added, one changed in place (returned)."""
    names = sorted(files)
    removed = set(rng.sample(names, max(1, len(names) // 2)))
    out = {k: v for k, v in files.items() if k not in removed}
    for i in range(len(removed)):
        out[f"pool/v{number}/f{i:03d}.bin"] = rng.randbytes(rng.randrange(20_000, 120_000))
    changed = rng.choice(sorted(k for k in out if not k.startswith(f"pool/v{number}/")))
    out[changed] = rng.randbytes(rng.randrange(20_000, 120_000))
    return out, changed


def chaos_args(upstream: Upstream, dest: Path, *extra: str, timeout: float = 1.0) -> list[str]:
    """A static-list run tuned for a chaos upstream: short timeouts and waits, 5 tries."""
    return ["run", "static-list", "--index-url", index_url(upstream), "--dest", str(dest),
            "--concurrency", "4", "--retries", "4", "--timeout", str(timeout),
            "--backoff-initial", "0.02", "--backoff-max", "0.1", "--max-retry-after", "0.2",
            *extra]


def expected_tree(files: dict[str, bytes], index: bytes) -> dict[str, str]:
    return {**{k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
            "index.json": hashlib.sha256(index).hexdigest()}


def leftover_temp_files(dest: Path) -> list[str]:
    """Temporary files a run may leave: staging files and half-written state files."""
    state = dest / ".mirrorkit"
    if not state.is_dir():
        return []
    found = [p for p in (state / "tmp").rglob("*") if p.is_file()] if (state / "tmp").is_dir() \
        else []
    found += [p for p in state.rglob("*.tmp") if p.is_file()]
    return sorted({p.relative_to(dest).as_posix() for p in found})
