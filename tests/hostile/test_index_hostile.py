"""A hostile upstream index (the example ``static-list`` registry, so the core's own gates).

Each case first mirrors a good index, then serves a hostile one: the run must exit 1 with
an error line naming what was wrong and where, keep the previous snapshot byte for byte,
and write nothing beside the mirror.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.harness import Sentinel, assert_clear_error, invoke, snapshot
from tests.support.static_list import INDEX, index_url, publish
from tests.support.upstream import Upstream

GOOD = {"pool/a.bin": b"a" * 1000, "pool/b.bin": b"b" * 2000}
BODY = b"hostile body\n"
SHA = hashlib.sha256(BODY).hexdigest()


def entry(path: Any = "pool/new.bin", sha: Any = SHA, **kw: Any) -> dict[str, Any]:
    return {"path": path, "url": "files/new.bin", "sha256": sha, **kw}


def _cases(sentinel: str) -> list[tuple[str, bytes, tuple[str, ...]]]:
    def idx(*entries: Any) -> bytes:
        return json.dumps(list(entries)).encode()

    return [
        ("truncated-json", b'[{"path": "pool/a.bin", "url"', ("index.json", "not valid JSON")),
        ("not-a-list", b'{"path": "x"}', ("index.json", "must be a JSON list")),
        ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, ("planning failed",)),
        ("missing-sha", idx({"path": "x", "url": "files/new.bin"}), ("entry 0", "sha256")),
        ("dotdot", idx(entry("../escape.bin")), ("entry 0", "'..'")),
        ("dotdot-inner", idx(entry("pool/../../escape.bin")), ("entry 0", "'..'")),
        ("absolute", idx(entry(f"{sentinel}/pwned.bin")), ("entry 0", "absolute")),
        ("backslash", idx(entry("..\\..\\escape.bin")), ("entry 0", "backslash")),
        ("nul", idx(entry("pool/a\0.bin")), ("entry 0", "NUL")),
        ("newline", idx(entry("pool/a\n.bin")), ("entry 0", "control character")),
        ("reserved-state-dir", idx(entry(".mirrorkit/manifest.json")), ("entry 0", "reserved")),
        ("empty-path", idx(entry("")), ("entry 0", "empty")),
        ("long-name", idx(entry("p/" + "x" * 300)), ("entry 0", "too long")),
        ("path-not-string", idx(entry(12345)), ("entry 0", "path")),
        ("sha-short", idx(entry(sha="abc123")), ("entry 0", "sha256")),
        ("sha-long", idx(entry(sha=SHA + "00")), ("entry 0", "sha256")),
        ("sha-not-hex", idx(entry(sha="z" * 64)), ("entry 0", "sha256")),
        ("sha-number", idx(entry(sha=12)), ("entry 0", "sha256")),
        ("size-negative", idx(entry(size=-1)), ("entry 0", "size")),
        ("size-huge", idx(entry(size=10**40)), ("pool/new.bin",)),
        ("size-string", idx(entry(size="13")), ("entry 0", "size")),
        ("size-infinite", b'[{"path": "pool/new.bin", "url": "files/new.bin", "sha256": "'
         + SHA.encode() + b'", "size": 1e400}]', ("entry 0", "size")),
        ("duplicate-conflict", idx(entry(), entry(sha="0" * 64)), ("two artifacts claim",)),
        ("file-url", idx({"path": "pool/new.bin", "url": "file:///etc/passwd", "sha256": SHA}),
         ("pool/new.bin",)),
        ("wrong-digest", idx(entry(sha="1" * 64)), ("pool/new.bin", "sha256 mismatch")),
    ]


CASE_IDS = [c[0] for c in _cases("/x")]


@pytest.mark.parametrize("case", CASE_IDS)
def test_hostile_index_is_refused_and_mirror_unchanged(upstream: Upstream, tmp_path: Path,
                                                      case: str) -> None:
    dest = tmp_path / "mirror"
    sentinel = Sentinel(tmp_path, dest)
    publish(upstream, GOOD)
    args: list[str | Path] = ["run", "static-list", "--index-url", index_url(upstream),
                              "--dest", dest, "--retries", "0", "--timeout", "5"]
    assert invoke(*args).code == 0
    before = snapshot(dest)
    sentinel.before = snapshot(tmp_path, skip=dest)

    _, body, needles = next(c for c in _cases(str(sentinel.dir)) if c[0] == case)
    upstream.add("/repo/files/new.bin", BODY)
    upstream.add(INDEX, body, last_modified=1.8e9)
    out = invoke(*args)
    assert_clear_error(out, 1, *needles)
    after = snapshot(dest)
    assert {k: v for k, v in after.items() if not k.startswith(".mirrorkit")} == {
        k: v for k, v in before.items() if not k.startswith(".mirrorkit")}
    assert after.get(".mirrorkit/manifest.json") == before[".mirrorkit/manifest.json"]
    sentinel.assert_untouched()
