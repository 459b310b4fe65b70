"""A hostile hosting API for the git plugin's tree mode (``mirrorkit run git-tree``).

The tree listing names every file the mirror writes, so it is the git plugin's attack
surface: traversal in paths, wrong types, huge sizes, digests of the wrong length,
duplicates, a listing that is not a list. Unsafe names are skipped with a warning naming
them (like symbolic links, by the plugin's design); malformed entries end the run with
exit 1 and one line; in every case nothing is written beside the mirror.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.harness import Sentinel, assert_clear_error, invoke, snapshot
from tests.plugins.git.fake_github import FakeGitHub, blob_sha
from tests.support.upstream import Handler, Upstream

GOOD = {"README.md": b"# tools\n", "lib/a.txt": b"a" * 100}
EVIL = b"evil\n"
EVIL_SIZE = len(EVIL)


class HostileHub(FakeGitHub):
    """Serves the files, plus ``extra`` raw tree entries; ``listing`` replaces the answer."""

    def __init__(self, up: Upstream) -> None:
        super().__init__(up)
        self.extra: list[Any] = []
        self.listing: bytes | None = None
        up.routes.insert(0, ("/api/repos/acme/tools/git/trees/", self._hostile_tree))

    def _entries(self) -> list[dict[str, object]]:
        return super()._entries() + self.extra

    def _hostile_tree(self, req: Handler) -> bool:
        if self.listing is None:
            return False
        req.send_body(200, self.listing, {"Content-Type": "application/json"})
        return True


def _entry(path: Any, sha: Any = None, size: Any = EVIL_SIZE, **kw: Any) -> dict[str, Any]:
    return {"path": path, "mode": "100644", "type": "blob",
            "sha": blob_sha(EVIL) if sha is None else sha, "size": size, **kw}


# (case, extra entries or a whole listing, exit code, words of the line naming it)
ERRORS: list[tuple[str, list[Any] | bytes, tuple[str, ...]]] = [
    ("listing-not-json", b"<html>rate limited</html>", ("did not answer JSON",)),
    ("listing-tree-not-list", json.dumps({"sha": "t", "tree": {"a": 1}}).encode(),
     ("hosting API",)),
    ("entry-not-object", ["README.md"], ("hosting API",)),
    ("size-negative", [_entry("x.txt", size=-5)], ("x.txt",)),
    ("size-string", [_entry("x.txt", size="five")], ("x.txt",)),
    ("size-huge", [_entry("x.txt", size=10**30)], ("x.txt",)),
    ("sha-short", [_entry("x.txt", sha="abc")], ("x.txt",)),
    ("sha-long", [_entry("x.txt", sha="a" * 64)], ("x.txt",)),
    ("sha-number", [_entry("x.txt", sha=123)], ("x.txt",)),
    ("sha-wrong", [_entry("x.txt", sha="0" * 40)], ("x.txt", "mismatch")),
    ("duplicate-conflict", [_entry("dup.txt"), _entry("dup.txt", sha="1" * 40)],
     ("dup.txt",)),
]
MARKS: dict[str, pytest.MarkDecorator] = {}
UNSAFE = ["../escape.txt", "lib/../../escape.txt", "/abs/escape.txt", "..\\escape.txt",
          "lib/a\0.txt", ".mirrorkit/manifest.json", "lib/\nx.txt"]


@pytest.fixture
def hub(upstream: Upstream) -> HostileHub:
    hub = HostileHub(upstream)
    hub.files = dict(GOOD)
    hub.publish()
    return hub


def _run(hub: HostileHub, dest: Path) -> tuple[int, str]:
    out = invoke("run", "git-tree", "--repo", "acme/tools", "--api-url", hub.api_url,
                 "--raw-url", hub.raw_url, "--dest", dest, "--retries", "0")
    return out.code, out.stderr


def _raw_everything(hub: HostileHub) -> None:
    """Serve EVIL at every raw URL a hostile entry could make the plugin request."""
    def evil(req: Handler) -> bool:
        if req.path.split("?", 1)[0] in hub.up.files:
            return False
        req.send_body(200, EVIL)
        return True

    hub.up.route("/raw/", evil)


@pytest.mark.parametrize("case", [pytest.param(c[0], marks=MARKS.get(c[0], ()))
                                  for c in ERRORS])
def test_malformed_tree_listing_fails_with_one_line(hub: HostileHub, tmp_path: Path,
                                                    case: str) -> None:
    dest = tmp_path / "mirror"
    sentinel = Sentinel(tmp_path, dest)
    code, err = _run(hub, dest)
    assert code == 0, err
    before = snapshot(dest)
    _, hostile, needles = next(c for c in ERRORS if c[0] == case)
    if isinstance(hostile, bytes):
        hub.listing = hostile
    else:
        hub.extra = hostile
    hub.files["README.md"] = b"# tools v2\n"  # a new commit, so the tree is read again
    hub.publish()
    _raw_everything(hub)
    out = invoke("run", "git-tree", "--repo", "acme/tools", "--api-url", hub.api_url,
                 "--raw-url", hub.raw_url, "--dest", dest, "--retries", "0")
    assert_clear_error(out, 1, *needles)
    assert snapshot(dest)[".mirrorkit/manifest.json"] == before[".mirrorkit/manifest.json"]
    assert (dest / "README.md").read_bytes() == GOOD["README.md"]
    sentinel.assert_untouched()


@pytest.mark.parametrize("unsafe", UNSAFE)
def test_unsafe_name_in_the_tree_fails_the_run_and_is_named(hub: HostileHub, tmp_path: Path,
                                                            unsafe: str) -> None:
    """git itself refuses such names, so a listing carrying one is hostile: refuse it."""
    dest = tmp_path / "mirror"
    sentinel = Sentinel(tmp_path, dest)
    code, err = _run(hub, dest)
    assert code == 0, err
    before = snapshot(dest)
    hub.extra = [_entry(unsafe)]
    hub.files["README.md"] = b"# tools v2\n"
    hub.publish()
    _raw_everything(hub)
    out = invoke("run", "git-tree", "--repo", "acme/tools", "--api-url", hub.api_url,
                 "--raw-url", hub.raw_url, "--dest", dest, "--retries", "0")
    assert_clear_error(out, 1, "unsafe", repr(unsafe[:200])[1:-1])
    assert snapshot(dest) == before
    assert not (tmp_path / "escape.txt").exists()
    sentinel.assert_untouched()
