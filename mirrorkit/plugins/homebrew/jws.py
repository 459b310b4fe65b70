"""Reading Homebrew's JWS-wrapped API files: ``{"payload": "<json text>", "signatures": [...]}``.

The mirror serves these files byte for byte, and only once their signature checked out by
brew's own rules (:mod:`.signature`): what brew would refuse is not published. Every problem
is one line naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mirrorkit.api import PlanError

from .signature import ApiKey, SignatureError, strict_json, verify_jws

__all__ = ["read_jws_payload", "read_jws_text"]


def read_jws_text(path: Path, where: str, key: ApiKey) -> str:
    """The payload text of the JWS document at ``path``, its signature checked against
    ``key`` (``where`` names the file in errors)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanError(f"{where}: cannot read ({exc.strerror or exc})") from None
    try:
        doc = strict_json(raw)
    except ValueError as exc:
        raise PlanError(f"{where}: not a JWS document (invalid JSON: {exc})") from None
    if not isinstance(doc, dict):
        raise PlanError(f"{where}: not a JWS document (top level is {type(doc).__name__})")
    payload = doc.get("payload")
    if not isinstance(payload, str):
        raise PlanError(f"{where}: not a JWS document ('payload' is not a string)")
    signatures = doc.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise PlanError(f"{where}: not a JWS document ('signatures' is missing or empty)")
    try:
        verify_jws(doc, key)
    except SignatureError as exc:
        raise PlanError(f"{where}: signature check failed ({exc}; checked against "
                        f"{key.origin}): not mirrored") from None
    return payload


def read_jws_payload(path: Path, where: str, key: ApiKey) -> Any:
    """The decoded JSON payload of the JWS document at ``path`` (signature checked)."""
    text = read_jws_text(path, where, key)
    try:
        return strict_json(text)
    except ValueError as exc:
        raise PlanError(f"{where}: payload is not valid JSON ({exc})") from None
