"""Authentication a plugin attaches to an artifact or a request.

Plugins choose one of these objects and never an HTTP library's type, so the core is free to
carry the bytes with whichever client it measures fastest.
"""

from __future__ import annotations

import httpx

__all__ = ["BasicAuth"]


class BasicAuth(httpx.BasicAuth):
    """HTTP Basic credentials (``https://user:token@host/`` upstreams, as apt sends them).

    Sent to the artifact's own host only: the core drops ``Authorization`` on a redirect to
    another host.
    """

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username, password)
        self.username = username

    def __repr__(self) -> str:  # never the password, in logs or reports
        return f"BasicAuth({self.username!r}, '***')"
