"""Hostile configuration files: every problem is one line naming the file and the key.

``mirrorkit run --config`` exits 2 before touching anything: no mirror directory is
created, nothing is written beside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.harness import Sentinel, assert_clear_error, invoke

HEAD = '[[mirrors]]\nname = "demo"\nregistry = "static-list"\nindex_url = "http://127.0.0.1:9/i"\n'

# (case, file bytes, words the error line must contain); DEST is replaced by the mirror path
CASES: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("not-toml", b"[[mirrors]\nname = ", ("invalid TOML",)),
    ("not-utf8", b'[[mirrors]]\nname = "\xff\xfe"\n', ("not UTF-8",)),
    ("duplicate-key", (HEAD + 'name = "again"\n').encode(), ("invalid TOML",)),
    ("no-mirrors", b'[settings]\nretries = 1\n', ("mirrors",)),
    ("mirrors-not-list", b"mirrors = 1\n", ("mirrors",)),
    ("unknown-top-key", (HEAD + "[oops]\nx = 1\n").encode(), ("oops", "unknown key")),
    ("name-traversal", HEAD.replace('"demo"', '"../../etc"').encode(), ("mirrors[0].name",)),
    ("name-nul", HEAD.replace('"demo"', '"de\\u0000mo"').encode(), ("mirrors[0].name",)),
    ("huge-int", (HEAD + "[mirrors.settings]\nconcurrency = 99999999999999999999999999\n"
                  ).encode(), ("concurrency",)),
    ("negative", (HEAD + "[mirrors.settings]\nretries = -1\n").encode(), ("retries",)),
    ("nan-timeout", (HEAD + "[mirrors.settings]\ntimeout = nan\n").encode(), ("timeout",)),
    ("inf-timeout", (HEAD + "[mirrors.settings]\ntimeout = inf\n").encode(), ("timeout",)),
    ("wrong-type", (HEAD + "[mirrors.settings]\nretries = \"five\"\n").encode(), ("retries",)),
    ("unknown-registry", HEAD.replace('"static-list"', '"nope"').encode(), ("registry",)),
    ("unknown-option", (HEAD + "colour = 1\n").encode(), ("colour",)),
    ("bad-url", HEAD.replace("http://127.0.0.1:9/i", "file:///etc/passwd").encode(),
     ("index_url",)),
    ("duplicate-mirror", (HEAD + HEAD).encode(), ("duplicate mirror name",)),
    ("unset-env", HEAD.replace('"http://127.0.0.1:9/i"', '"${MIRRORKIT_TEST_UNSET}"').encode(),
     ("MIRRORKIT_TEST_UNSET", "not set")),
    ("sink-unknown", (HEAD + '[[mirrors.sinks]]\ntype = "ftp"\n').encode(), ("sinks[0]",)),
    ("sinks-not-list", (HEAD + 'sinks = "s3"\n').encode(), ("sinks",)),
    ("deep-nesting", ("x = " + "[" * 5000 + "]" * 5000 + "\n").encode(), ("config.toml",)),
]


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_hostile_config_is_refused_before_anything_is_written(tmp_path: Path, case: str
                                                              ) -> None:
    _, body, needles = next(c for c in CASES if c[0] == case)
    dest = tmp_path / "mirror"
    config = tmp_path / "config.toml"
    config.write_bytes(body.replace(b"[[mirrors]]\n", b'[[mirrors]]\ndest = "mirror"\n', 1))
    sentinel = Sentinel(tmp_path, dest)
    out = invoke("run", "--config", config)
    assert_clear_error(out, 2, "config.toml", *needles)
    assert not dest.exists()
    sentinel.assert_untouched()
