"""Path validation: the one gate between untrusted names and the filesystem."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirrorkit.core.plan.paths import UnsafePathError, all_normal, validate_relpath


@pytest.mark.parametrize(
    "bad",
    ["", "/etc/passwd", "../x", "a/../../x", "a/..", "a\\b", "a\0b", "./",
     ".mirrorkit/manifest.json", "a/\nb", "x" * 300, "/"],
)
def test_rejects_unsafe_paths(bad: str) -> None:
    with pytest.raises(UnsafePathError):
        validate_relpath(bad)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("a/b", "a/b"), ("a//b", "a/b"), ("./a/./b/", "a/b"),
     ("v2/x/blobs/sha256:ab", "v2/x/blobs/sha256:ab"),
     ("openssl%403.tar.gz", "openssl%403.tar.gz")],
)
def test_normalises_safe_paths(raw: str, normal: str) -> None:
    assert validate_relpath(raw) == normal


@given(st.text(max_size=80))
def test_any_accepted_path_stays_inside_the_root(text: str) -> None:
    try:
        norm = validate_relpath(text)
    except UnsafePathError:
        return
    joined = posixpath.normpath(posixpath.join("/root/mirror", norm))
    assert joined.startswith("/root/mirror/")
    assert "\\" not in norm and "\0" not in norm
    assert validate_relpath(norm) == norm  # normalising is idempotent


@given(st.lists(st.text(max_size=40), max_size=6))
def test_paths_checked_at_once_are_the_ones_valid_and_normal(paths: list[str]) -> None:
    # the manifest's bulk check may only say yes when each path passes on its own
    if all_normal(paths):
        assert all(validate_relpath(p) == p for p in paths)


@pytest.mark.parametrize("bad", ["../x", "a/../b", ".mirrorkit/manifest.json", "/abs", "a//b",
                                 "a/", "a\nb", "a\\b", "a\0b", "", "x" * 300, "a/./b"])
def test_bulk_check_sends_doubtful_paths_the_long_way(bad: str) -> None:
    assert not all_normal(["ok/file", bad])


def test_bulk_check_accepts_plain_paths() -> None:
    assert all_normal(["linux-64/numpy-2.1.0-py312h0_0.conda", "noarch/repodata.json", "a b"])
