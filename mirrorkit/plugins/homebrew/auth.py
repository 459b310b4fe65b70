"""Anonymous pulls from an OCI registry, as ``docker pull`` (and brew) do them.

Every request carries ``Authorization: Bearer <token>``, starting with ``QQ==`` (what brew
sends to ghcr.io for public images). A ``401`` with ``WWW-Authenticate: Bearer realm=...``
is answered the standard way: ask the realm for a token for that ``service``/``scope``, then
retry once with it; tokens are remembered per repository. Blob GETs are redirected to
another host (a CDN); httpx drops ``Authorization`` on a cross-origin redirect, so the token
never leaves the registry.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncGenerator, Generator

import httpx

__all__ = ["ANONYMOUS_TOKEN", "RegistryAuth", "parse_bearer_challenge"]

log = logging.getLogger("mirrorkit.registry.homebrew")

ANONYMOUS_TOKEN = "QQ=="
_PARAM_RE = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_bearer_challenge(header: str) -> dict[str, str] | None:
    """``Bearer realm="...",service="...",scope="..."`` -> its parameters; None if not Bearer."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _PARAM_RE.finditer(rest)}
    return params if params.get("realm") else None


def _repository_key(url: httpx.URL) -> str:
    """``/v2/homebrew/core/openssl/3/blobs/sha256:...`` -> ``/v2/homebrew/core/openssl/3``."""
    path = url.path
    for marker in ("/blobs/", "/manifests/"):
        if marker in path:
            return f"{url.host}:{url.port}{path.split(marker, 1)[0]}"
    return f"{url.host}:{url.port}"


class RegistryAuth(httpx.Auth):
    """An :class:`httpx.Auth` doing the OCI bearer-token dance; one instance per run."""

    def __init__(self, anonymous_token: str = ANONYMOUS_TOKEN) -> None:
        self._anonymous = anonymous_token
        self._tokens: dict[str, str] = {}

    def _prepare(self, request: httpx.Request) -> str:
        key = _repository_key(request.url)
        request.headers["Authorization"] = f"Bearer {self._tokens.get(key, self._anonymous)}"
        return key

    def _token_request(self, response: httpx.Response) -> httpx.Request | None:
        if response.status_code != 401:
            return None
        challenge = parse_bearer_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            return None
        params = {k: challenge[k] for k in ("service", "scope") if challenge.get(k)}
        return httpx.Request("GET", challenge["realm"], params=params)

    def _remember(self, key: str, response: httpx.Response) -> bool:
        if response.status_code != 200:
            log.warning("registry token endpoint %s answered HTTP %d", response.url,
                        response.status_code)
            return False
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            log.warning("registry token endpoint %s gave no token", response.url)
            return False
        self._tokens[key] = token
        return True

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        key = self._prepare(request)
        response = yield request
        token_request = self._token_request(response)
        if token_request is None:
            return
        token_response = yield token_request
        token_response.read()
        self._remember(key, token_response)
        # with the new token, or (without one) so the caller sees the registry's own 401
        self._prepare(request)
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        key = self._prepare(request)
        response = yield request
        token_request = self._token_request(response)
        if token_request is None:
            return
        token_response = yield token_request
        await token_response.aread()
        self._remember(key, token_response)
        # with the new token, or (without one) so the caller sees the registry's own 401
        self._prepare(request)
        yield request
