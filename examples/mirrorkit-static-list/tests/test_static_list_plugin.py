"""The example plugin's own tests, written as a third-party author would: mirrorkit.testing only.

They run with the project's suite (``testpaths`` in the root pyproject.toml), so the example
and the testing helpers it shows stay working.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mirrorkit.testing import Upstream, run_cli, run_mirror_async, run_mirror_for_test


def serve(up: Upstream, files: dict[str, bytes]) -> str:
    """Publish ``files`` and an index.json listing them; returns the index URL."""
    entries = []
    for path, body in sorted(files.items()):
        up.add(f"/files/{path}", body)
        entries.append({"path": path, "url": f"files/{path}", "size": len(body),
                        "sha256": hashlib.sha256(body).hexdigest()})
    up.add("/index.json", json.dumps(entries).encode())
    return up.url + "/index.json"


def test_mirrors_every_listed_file_and_the_index(tmp_path: Path) -> None:
    with Upstream() as up:
        url = serve(up, {"a/one.txt": b"one", "b/two.txt": b"two"})
        report = run_mirror_for_test("static-list", tmp_path / "m", index_url=url)
    assert report.status == "ok", report.errors
    assert (tmp_path / "m" / "a/one.txt").read_bytes() == b"one"
    assert json.loads((tmp_path / "m" / "index.json").read_bytes())[0]["path"] == "a/one.txt"
    assert sorted(c.path for c in report.changes) == ["a/one.txt", "b/two.txt", "index.json"]


def test_include_limits_the_mirror_to_a_prefix(tmp_path: Path) -> None:
    with Upstream() as up:
        url = serve(up, {"a/one.txt": b"one", "b/two.txt": b"two"})
        report = run_mirror_for_test("static-list", tmp_path / "m", index_url=url,
                                     include=["a/"])
        assert up.requests("/files/b/") == []
    assert report.status == "ok"
    assert not (tmp_path / "m" / "b").exists()


def test_a_corrupt_file_fails_the_run_and_commits_no_index(tmp_path: Path) -> None:
    with Upstream() as up:
        url = serve(up, {"a.txt": b"good", "b.txt": b"bad"})
        up.fault("/files/b.txt", "corrupt", times=10)
        report = run_mirror_for_test("static-list", tmp_path / "m", index_url=url,
                                     settings={"retries": 1})
    assert report.status == "failed"
    assert [e.path for e in report.errors] == ["b.txt"]
    assert not (tmp_path / "m" / "index.json").exists()


@pytest.mark.anyio
async def test_runs_from_async_tests_too(tmp_path: Path) -> None:
    with Upstream() as up:
        url = serve(up, {"a.txt": b"a"})
        first = await run_mirror_async("static-list", tmp_path / "m", index_url=url)
        again = await run_mirror_async("static-list", tmp_path / "m", index_url=url)
    assert first.downloaded == 2 and again.downloaded == 0 and again.changes == []


def test_bad_index_is_one_line_through_the_command_line(tmp_path: Path) -> None:
    with Upstream() as up:
        up.add("/index.json", b"{not json")
        res = run_cli("run", "static-list", "--index-url", up.url + "/index.json",
                      "--dest", tmp_path / "m")
    assert res.code == 1
    assert "index is not valid JSON" in res.stderr and "Traceback" not in res.stderr
