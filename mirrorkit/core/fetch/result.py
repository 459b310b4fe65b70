"""What a download gives back, apart from the code that downloads (a dry run's bookkeeping
and the commit need it without the HTTP stack)."""

from __future__ import annotations

from dataclasses import dataclass

from ..transport.errors import http_date_to_epoch

__all__ = ["NOT_MODIFIED", "FetchResult"]


@dataclass(frozen=True, slots=True)
class FetchResult:
    sha256: str
    size: int
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    #: the verified body, when the caller asked for small bodies in memory (nothing written)
    body: tuple[bytes, ...] | None = None

    @property
    def mtime(self) -> float | None:
        return http_date_to_epoch(self.last_modified)


NOT_MODIFIED = FetchResult(sha256="", size=0, not_modified=True)
