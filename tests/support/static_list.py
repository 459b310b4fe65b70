"""Publish a file set on an upstream the way the example ``static-list`` registry reads it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.support.upstream import Upstream

INDEX = "/repo/index.json"


def publish(upstream: Upstream, files: dict[str, bytes], *, last_modified: float = 1.7e9,
            wrong_sha: set[str] | None = None) -> None:
    """Serve every file under /repo/ and an index listing them (paths are mirror paths)."""
    entries = []
    for path, body in sorted(files.items()):
        sha = hashlib.sha256(body).hexdigest()
        if path in (wrong_sha or set()):
            sha = hashlib.sha256(body + b"tampered").hexdigest()
        upstream.add(f"/repo/files/{path}", body)
        entries.append({"path": path, "url": f"files/{path}", "sha256": sha, "size": len(body)})
    upstream.add(INDEX, json.dumps(entries, indent=1).encode(), last_modified=last_modified)


def index_url(upstream: Upstream) -> str:
    return upstream.url + INDEX


def run_args(upstream: Upstream, dest: Path, *extra: str) -> list[str]:
    return ["run", "static-list", "--index-url", index_url(upstream), "--dest", str(dest),
            "--backoff-initial", "0.05", "--backoff-max", "0.2", "--timeout", "5", *extra]


def assert_index_consistent(dest: Path, replaced: frozenset[str] = frozenset()) -> list[str]:
    """Every file the committed index names exists with its digest; returns the paths.

    ``replaced`` paths change content under the same name: they are swapped just before the
    index (a registry that names files by content never does this), so only existence counts.
    """
    index = dest / "index.json"
    try:
        raw = index.read_bytes()
    except FileNotFoundError:
        return []
    entries = json.loads(raw)
    try:
        for entry in entries:
            data = (dest / entry["path"]).read_bytes()
            if entry["path"] in replaced:
                continue
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
    except (AssertionError, FileNotFoundError):
        # A reader that started before a new index was committed may meet a file that the
        # new snapshot pruned (that is what prune_grace is for); only a check made wholly
        # under one index counts.
        try:
            if index.read_bytes() != raw:
                return []
        except FileNotFoundError:
            return []
        raise
    return [e["path"] for e in entries]
