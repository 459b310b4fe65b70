"""A damaged or tampered mirror manifest (``<dest>/.mirrorkit/manifest.json``).

The manifest is ours, but it sits on disks and media we do not control. ``verify`` and
``run`` must each refuse it with one line naming the file and the entry, never follow a
path it names outside the mirror, and never crash.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.harness import Sentinel, assert_clear_error, invoke

SHA = "0" * 64
GOOD_ENTRY = {"size": 1, "sha256": SHA}


def _manifest(files: object) -> bytes:
    return json.dumps({"format": 1, "mirror": "m", "snapshot": "s", "files": files}).encode()


CASES: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("not-json", b'{"format": 1, "files": {', ("manifest.json", "invalid JSON")),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, ("manifest.json",)),
    ("wrong-format", b'{"format": 99, "files": {}}', ("not a mirrorkit manifest",)),
    ("files-not-object", _manifest([1]), ("'files' is not an object",)),
    ("path-dotdot", _manifest({"../../outside.txt": GOOD_ENTRY}), ("outside.txt", "'..'")),
    ("path-absolute", _manifest({"/etc/passwd": GOOD_ENTRY}), ("/etc/passwd", "absolute")),
    ("path-nul", _manifest({"a\0b": GOOD_ENTRY}), ("NUL",)),
    ("sha-short", _manifest({"a": {"size": 1, "sha256": "ab"}}), ("'a'", "sha256")),
    ("size-negative", _manifest({"a": {"size": -1, "sha256": SHA}}), ("'a'", "size")),
    ("size-string", _manifest({"a": {"size": "1", "sha256": SHA}}), ("'a'", "size")),
    ("kind-unknown", _manifest({"a": {"size": 1, "sha256": SHA, "kind": "evil"}}), ("'a'",)),
]


@pytest.mark.parametrize("command", ["verify", "run"])
@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_tampered_manifest_is_one_line(tmp_path: Path, case: str, command: str) -> None:
    _, body, needles = next(c for c in CASES if c[0] == case)
    dest = tmp_path / "mirror"
    (dest / ".mirrorkit").mkdir(parents=True)
    (dest / ".mirrorkit" / "manifest.json").write_bytes(body)
    sentinel = Sentinel(tmp_path, dest)
    if command == "verify":
        out = invoke("verify", dest)
    else:
        out = invoke("run", "static-list", "--index-url", "http://127.0.0.1:9/i.json",
                     "--dest", dest, "--retries", "0")
    assert_clear_error(out, 1, *needles)
    assert (dest / ".mirrorkit" / "manifest.json").read_bytes() == body
    sentinel.assert_untouched()
