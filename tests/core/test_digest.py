from __future__ import annotations

import hashlib

import pytest

from mirrorkit.core.plan.digest import Digest, DigestError, new_hasher


def test_git_blob_sha1_matches_git() -> None:
    # `printf 'hello\n' | git hash-object --stdin`
    h = new_hasher("git-blob-sha1", 6)
    h.update(b"hello\n")
    assert h.hexdigest() == "ce013625030ba8dba906f756967f9e9ca394464a"


@pytest.mark.parametrize(
    "text", ["sha256:abc", "sha256:" + "G" * 64, "md4:" + "0" * 32, "nocolon", "sha1:" + "0" * 64]
)
def test_malformed_digests_are_refused(text: str) -> None:
    with pytest.raises(DigestError):
        Digest.parse(text)


def test_parse_round_trip() -> None:
    hexd = hashlib.sha256(b"x").hexdigest()
    assert str(Digest.parse(f"sha256:{hexd}")) == f"sha256:{hexd}"
