"""Path validation: the one gate between untrusted names and the filesystem."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirrorkit.core.paths import UnsafePathError, validate_relpath


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
