"""The answer a plugin gets from ``ctx.get``: mirrorkit's own type, not an HTTP library's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["Response"]


class Response:
    """A finished response with its body in memory.

    ``headers`` is case-insensitive; ``url`` is the URL that answered (after redirects).
    """

    __slots__ = ("content", "headers", "reason", "status_code", "url")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes, url: str,
                 reason: str = "") -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.url = url
        self.reason = reason

    @property
    def charset(self) -> str:
        ctype = self.headers.get("Content-Type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"

    @property
    def text(self) -> str:
        try:
            return self.content.decode(self.charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        charset = self.charset.lower()
        if charset in ("utf-8", "utf8"):
            return json.loads(self.content)  # (also detects UTF-16/32 by their BOM)
        return json.loads(self.text)

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}] {self.url}>"
