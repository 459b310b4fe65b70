"""Which proxy a URL goes through, from the environment, as curl and pip decide it.

``HTTP_PROXY``/``HTTPS_PROXY`` per scheme, ``ALL_PROXY`` for both when the scheme has none,
``NO_PROXY`` to go direct (both cases of every name). Decided once per origin and for every
hop of a redirect chain (a direct registry may redirect to a host only a proxy reaches).
Proxies are HTTP proxies (``https://`` URLs tunnel through them with CONNECT); a SOCKS
proxy is refused with a clear message rather than silently bypassed.
"""

from __future__ import annotations

import urllib.parse
import urllib.request

from .errors import Permanent

__all__ = ["ProxyChooser"]


class ProxyChooser:
    def __init__(self) -> None:
        self._env = urllib.request.getproxies_environment()
        self._cache: dict[str, str | None] = {}

    @property
    def active(self) -> bool:
        return any(k in self._env for k in ("http", "https", "all"))

    def for_url(self, origin: str) -> str | None:
        """The proxy URL for ``origin`` (``scheme://host:port``), or None to go direct."""
        try:
            return self._cache[origin]
        except KeyError:
            pass
        proxy = self._choose(origin)
        self._cache[origin] = proxy
        return proxy

    def _choose(self, origin: str) -> str | None:
        if not self.active:
            return None
        parts = urllib.parse.urlsplit(origin)
        proxy = self._env.get(parts.scheme) or self._env.get("all")
        if not proxy:
            return None
        host = parts.hostname or ""
        hostport = f"{host}:{parts.port}" if parts.port else host
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if bypass(hostport, self._env) or (hostport != host and bypass(host, self._env)):
            return None
        if "://" not in proxy:
            proxy = "http://" + proxy
        scheme = proxy.split("://", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise Permanent(f"proxy {proxy.split('@')[-1]} for {origin}: {scheme} proxies are "
                            "not supported; give an http:// proxy")
        return proxy
