"""The answer a plugin gets from ``ctx.get``: mirrorkit's own type, not an HTTP library's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Response", "Validators"]


@dataclass(frozen=True, slots=True)
class Validators:
    """What a conditional request sends back to upstream (``If-None-Match``,
    ``If-Modified-Since``): taken from an earlier response, kept in plugin state."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)


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

    @property
    def not_modified(self) -> bool:
        """Upstream answered a conditional request with 304: what the plugin has is current."""
        return self.status_code == 304

    @property
    def validators(self) -> Validators:
        """The response's ``ETag`` and ``Last-Modified``, for the next conditional request."""
        return Validators(self.headers.get("ETag"), self.headers.get("Last-Modified"))

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}] {self.url}>"
