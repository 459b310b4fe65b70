"""The API files' signatures, checked as brew checks them before it trusts a byte of them.

A mirror inside an air gap is where clients get their formulae from; one that passed on an
API Homebrew did not sign would hand every client a document brew then refuses (at best).
So each ``*.jws.json`` is verified before it is committed, by the rules of brew's
``Homebrew::API.verify_and_parse_jws`` (4.3.0, unchanged in 6.0):

- the first entry of ``signatures`` whose ``header.kid`` is ``homebrew-1`` is the one;
- its ``protected`` header (base64url, padded or not, decoded strictly) is JSON with
  ``"alg": "PS512"`` and ``"b64": false`` (the payload is signed as it is, not encoded);
- the signature (base64url) is RSA-PSS with SHA-512, MGF1 SHA-512 and a 64-byte salt,
  over ``<protected>.<payload>`` as UTF-8 text;
- against Homebrew's public key (``keys/homebrew-1.pem``, copied from brew's
  ``Library/Homebrew/api/homebrew-1.pem``), or the one given with ``--api-public-key``.

Entries brew would crash on (a signature that is not an object, a header that is neither
an object nor absent) are refused too: a file brew cannot read is no better than a forged one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = ["KEY_ID", "ApiKey", "SignatureError", "load_api_key", "strict_json", "verify_jws"]

KEY_ID = "homebrew-1"
_SALT_BYTES = 64  # brew's salt_length: :digest, SHA-512's size


class SignatureError(ValueError):
    """The document is not signed by the key, by brew's rules (the reason is brew's words)."""


class ApiKey:
    """A PEM public key and where it came from (named in messages).

    Parsed (and ``cryptography`` imported) only when a signature is checked: a no-op run,
    whose API files were checked when they arrived, only needs the fingerprint.
    """

    def __init__(self, pem: bytes, origin: str) -> None:
        self.pem, self.origin = pem, origin
        self._key: RSAPublicKey | None = None

    @property
    def fingerprint(self) -> str:
        """sha256 of the PEM file: changes when the key does."""
        return hashlib.sha256(self.pem).hexdigest()

    @property
    def key(self) -> RSAPublicKey:
        """The RSA key; ``ValueError`` saying why the file is not one."""
        if self._key is None:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

            try:
                key = serialization.load_pem_public_key(self.pem)
            except ValueError:
                raise ValueError(f"{self.origin}: not a PEM public key") from None
            if not isinstance(key, RSAPublicKey):
                raise ValueError(f"{self.origin}: not an RSA public key (brew checks PS512 "
                                 "signatures)")
            self._key = key
        return self._key


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Ruby's parser refuses NaN and Infinity


def strict_json(text: str | bytes) -> Any:
    """``json.loads`` refusing NaN/Infinity, as brew's parser does."""
    return json.loads(text, parse_constant=_reject_constant)


def load_api_key(path: Path | None = None) -> ApiKey:
    """The key at ``path`` (PEM), or Homebrew's own (read, not parsed yet: see
    :attr:`ApiKey.key`); ``ValueError`` when the file cannot be read."""
    if path is None:
        pem = resources.files(__package__).joinpath("keys", f"{KEY_ID}.pem").read_bytes()
        return ApiKey(pem, f"Homebrew's {KEY_ID} key")
    try:
        return ApiKey(Path(path).read_bytes(), str(path))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _urlsafe_b64decode(text: str) -> bytes:
    """Ruby's ``Base64.urlsafe_decode64``: padding optional, otherwise strict (no spaces,
    no stray bits)."""
    if not text.endswith("=") and len(text) % 4:
        text = text.ljust((len(text) + 3) & ~3, "=")
    text = text.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SignatureError("invalid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise SignatureError("invalid base64")
    return raw


def _homebrew_signature(signatures: list[Any]) -> dict[str, Any]:
    for entry in signatures:
        if not isinstance(entry, dict):
            raise SignatureError("a signature is not an object")
        header = entry.get("header")
        if header is None:
            continue
        if not isinstance(header, dict):
            raise SignatureError("a signature's header is not an object")
        if header.get("kid") == KEY_ID:
            return entry
    raise SignatureError("key not found")


def _signing_digest(protected: str, payload: str) -> bytes:
    """SHA-512 of ``<protected>.<payload>`` as UTF-8, encoded a slice at a time: the
    payload (tens of MB) is not copied whole once more."""
    digest = hashlib.sha512(f"{protected}.".encode())
    step = 1 << 20
    for start in range(0, len(payload), step):
        digest.update(payload[start:start + step].encode("utf-8", "surrogatepass"))
    return digest.digest()


def verify_jws(doc: dict[str, Any], key: ApiKey) -> None:
    """Check a parsed JWS document's signature; raises :class:`SignatureError` saying why.

    ``doc`` has a string ``payload`` and a list ``signatures`` (checked by the caller).
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    signature = _homebrew_signature(doc["signatures"])
    protected, sig_text = signature.get("protected"), signature.get("signature")
    if not isinstance(protected, str) or not isinstance(sig_text, str):
        raise SignatureError("'protected' and 'signature' must be strings")
    try:
        header = strict_json(_urlsafe_b64decode(protected))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        raise SignatureError("invalid protected header") from None
    if (not isinstance(header, dict) or header.get("alg") != "PS512"
            or header.get("b64") is not False):  # brew: a missing b64 means true
        raise SignatureError("invalid algorithm")
    try:
        public = key.key
    except ValueError as exc:
        raise SignatureError(str(exc)) from None
    try:
        public.verify(_urlsafe_b64decode(sig_text), _signing_digest(protected, doc["payload"]),
                      padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=_SALT_BYTES),
                      Prehashed(hashes.SHA512()))
    except InvalidSignature:
        raise SignatureError("signature mismatch") from None
