"""Sign Homebrew API documents the way formulae.brew.sh does, with a key made for the tests.

brew (and the mirror) check every ``*.jws.json`` against a public key; the tests' fake
upstreams sign with this process's key and hand its public half to ``mirrorkit run homebrew
--api-public-key`` (and to the real brew, in place of ``Library/Homebrew/api/homebrew-1.pem``),
as a test trusts a private CA. The private key lives only in memory.
"""

from __future__ import annotations

import atexit
import base64
import json
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["PROTECTED", "JwsSigner", "public_key_file", "signer"]

#: formulae.brew.sh's protected header, base64url without padding
PROTECTED = base64.urlsafe_b64encode(
    b'{"alg":"PS512","b64":false,"crit":["b64"]}').rstrip(b"=").decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class JwsSigner:
    def __init__(self, bits: int = 2048) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        self._memo: dict[tuple[str, str, str], bytes] = {}

    @property
    def public_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def signature(self, signing_input: str) -> str:
        """RSA-PSS, SHA-512, MGF1 SHA-512, 64-byte salt, base64url (brew's ``verify_pss``)."""
        raw = self._key.sign(signing_input.encode(),
                             padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64),
                             hashes.SHA512())
        return b64url(raw)

    def sign_text(self, payload: str, *, kid: str = "homebrew-1",
                  protected: str = PROTECTED) -> bytes:
        """A JWS document (JSON bytes) carrying ``payload`` as it is; the same bytes for
        the same payload (PSS signatures are randomised; upstream's files do not change
        unless their payload does)."""
        memo_key = (payload, kid, protected)
        doc = self._memo.get(memo_key)
        if doc is None:
            doc = json.dumps({
                "payload": payload,
                "signatures": [{"protected": protected, "header": {"kid": kid},
                                "signature": self.signature(f"{protected}.{payload}")}],
            }).encode()
            self._memo[memo_key] = doc
        return doc

    def sign(self, payload: Any) -> bytes:
        """``payload`` serialised compactly, as formulae.brew.sh does, then signed."""
        return self.sign_text(json.dumps(payload, separators=(",", ":")))


@cache
def signer() -> JwsSigner:
    """This process's signer (one key per test session)."""
    return JwsSigner()


@cache
def public_key_file() -> Path:
    """The signer's public key as a PEM file (for ``--api-public-key``), removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="mirrorkit-test-key-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "homebrew-test.pem"
    path.write_bytes(signer().public_pem)
    return path
