"""Reading Homebrew's JWS-wrapped API files: ``{"payload": "<json text>", "signatures": [...]}``.

The mirror serves these files byte for byte (brew checks the signature against the key it
ships), so this module only *reads* them: it checks the envelope and decodes the payload,
and every problem is one line naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mirrorkit.api import PlanError

__all__ = ["read_jws_payload", "read_jws_text"]


def read_jws_text(path: Path, where: str) -> str:
    """The payload text of the JWS document at ``path`` (``where`` names it in errors)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanError(f"{where}: cannot read ({exc.strerror or exc})") from None
    try:
        doc = json.loads(raw)
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
    return payload


def read_jws_payload(path: Path, where: str) -> Any:
    """The decoded JSON payload of the JWS document at ``path``."""
    text = read_jws_text(path, where)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise PlanError(f"{where}: payload is not valid JSON ({exc})") from None
