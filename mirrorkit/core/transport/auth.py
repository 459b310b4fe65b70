"""Authentication as mirrorkit's own small protocol: headers for a URL, an answer to a 401.

Plugins pick one of these objects and never an HTTP library's type. The transport asks
``headers(url)`` for every request to the host the request was made for (never for a host a
redirect leads to: a CDN never sees a registry token), and on a ``401`` from that host calls
``answer`` (at most twice per request); when it returns True the request is sent again with
fresh headers. ``answer`` may ask other URLs (a token endpoint) through the same transport
with ``ask``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

import anyio

from .response import Response

__all__ = ["ANONYMOUS_TOKEN", "SCOPES_PER_TOKEN", "TOKENS_AHEAD", "Ask", "Auth", "BasicAuth",
           "OCIBearerAuth", "parse_bearer_challenge"]

log = logging.getLogger("mirrorkit.auth")

#: GET a URL through the run's transport (its limits, proxies, CA) and return the answer.
Ask = Callable[[str], Awaitable[Response]]


@runtime_checkable
class Auth(Protocol):
    """What ``Artifact(auth=...)`` and ``ctx.get(auth=...)`` accept."""

    def headers(self, url: str) -> Mapping[str, str]:
        """Headers to add to a request for ``url`` (the artifact's own host only)."""
        ...

    async def prepare(self, url: str, ask: Ask) -> None:
        """Called before a request to ``url``: a chance to get credentials ahead of a 401."""
        ...

    async def answer(self, url: str, sent: Mapping[str, str], challenge: Response,
                     ask: Ask) -> bool:
        """React to a ``401`` (``challenge``, body not read) to a request sent with ``sent``.

        True: send the request again (with ``headers(url)`` asked anew); False: the 401 stands.
        """
        ...


class BasicAuth:
    """HTTP Basic credentials (``https://user:token@host/`` upstreams, as apt sends them)."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}"}

    def headers(self, url: str) -> Mapping[str, str]:
        return self._headers

    async def prepare(self, url: str, ask: Ask) -> None:
        pass

    async def answer(self, url: str, sent: Mapping[str, str], challenge: Response,
                     ask: Ask) -> bool:
        return False  # the credentials are all there is

    def __repr__(self) -> str:  # never the password, in logs or reports
        return f"BasicAuth({self.username!r}, '***')"


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


def _repository_key(url: str) -> str:
    """``https://h/v2/homebrew/core/openssl/3/blobs/sha256:...`` -> ``https://h/v2/.../3``."""
    base = url.split("?", 1)[0]
    for marker in ("/blobs/", "/manifests/", "/tags/"):
        if marker in base:
            return base.split(marker, 1)[0]
    start = base.find("//")
    end = base.find("/", start + 2) if start >= 0 else -1
    return base if end < 0 else base[:end]


def _origin(url: str) -> str:
    start = url.find("//")
    end = url.find("/", start + 2) if start >= 0 else -1
    return url if end < 0 else url[:end]


def _token_url(realm: str, service: str | None, scopes: list[str]) -> str:
    pairs = [("service", service)] if service else []
    query = urllib.parse.urlencode(pairs + [("scope", scope) for scope in scopes])
    return realm + (("&" if "?" in realm else "?") + query if query else "")


def _pull_scope(key: str) -> str:
    return f"repository:{key.split('/v2/', 1)[1]}:pull"


#: The most repositories one token request asks for: the Docker token specification lets a
#: client repeat ``scope``; 32 pull scopes keep the request line near 2 KB, far below the
#: 8 KB that servers commonly accept.
SCOPES_PER_TOKEN = 32
#: Token requests for expected repositories made side by side (8 x 32 repositories): more
#: would ask for tokens that may expire (Docker Hub's last five minutes) before their use.
TOKENS_AHEAD = 8


class OCIBearerAuth:
    """Pulls from an OCI registry, as ``docker pull`` (and brew) do them.

    Every request carries ``Authorization: Bearer <token>``, starting with an anonymous token
    (``QQ==``, what brew sends to ghcr.io for public images). A ``401`` with
    ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` is answered the standard
    way: the realm is asked for a token for that service and scope, and the request is sent
    again with it. Tokens are kept per repository; one instance serves a whole run, and
    concurrent requests to one repository ask for its token once. Once a registry has
    challenged, a repository it has not seen yet gets its token (``repository:NAME:pull``
    from the same realm and service) before its first request, saving a round trip per
    repository; if that guess is refused, the 401 is answered as usual.

    A planner that knows which repositories it is about to pull says so with
    :meth:`expect`: a token request then also asks for up to :data:`SCOPES_PER_TOKEN` of
    them at once (``scope`` repeated), so a tag's 400 formulae cost about 15 token requests
    instead of 400. A registry that grants fewer scopes than asked is no problem: a
    repository its token does not cover answers 401, which is answered for that repository
    alone.
    """

    def __init__(self, anonymous_token: str = ANONYMOUS_TOKEN) -> None:
        self._anonymous = anonymous_token
        self._tokens: dict[str, str] = {}
        #: repositories a token request is under way for: set when it has ended
        self._asking: dict[str, anyio.Event] = {}
        self._realms: dict[str, tuple[str, str | None]] = {}  # origin -> (realm, service)
        #: per origin, repositories a planner expects to pull (a dict as an ordered set)
        self._expected: dict[str, dict[str, None]] = {}
        #: origins whose token endpoint refused several scopes in one request
        self._one_at_a_time: set[str] = set()

    def _token(self, url: str) -> tuple[str, str]:
        key = _repository_key(url)
        return key, self._tokens.get(key, self._anonymous)

    def headers(self, url: str) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self._token(url)[1]}"}

    def expect(self, urls: Iterable[str]) -> None:
        """Repositories (any URL inside them) the run is about to pull, for batched tokens."""
        for url in urls:
            key = _repository_key(url)
            if "/v2/" in key and key not in self._tokens:
                self._expected.setdefault(_origin(key), {})[key] = None

    async def prepare(self, url: str, ask: Ask) -> None:
        key = _repository_key(url)
        if key in self._tokens or "/v2/" not in key:
            return
        asking = self._asking.get(key)
        if asking is not None:
            await asking.wait()
            return
        known = self._realms.get(_origin(url))
        if known is None:
            return
        try:
            await self._ask_token(key, known, _pull_scope(key), ask, batch=True)
        except Exception:  # a guess: the 401, if it comes, is answered as usual
            return

    async def answer(self, url: str, sent: Mapping[str, str], challenge: Response,
                     ask: Ask) -> bool:
        params = parse_bearer_challenge(challenge.headers.get("WWW-Authenticate", ""))
        if params is None:
            return False
        key = _repository_key(url)
        realm = (params["realm"], params.get("service"))
        self._realms[_origin(url)] = realm
        asking = self._asking.get(key)
        if asking is not None:
            await asking.wait()
        current = self._tokens.get(key)
        if current is not None and sent.get("Authorization") != f"Bearer {current}":
            return True  # another request got a token meanwhile: try with that one
        scope = params.get("scope")
        # a token that was refused is asked again for this repository alone
        token = await self._ask_token(key, realm, scope, ask, batch=current is None)
        return token is not None and token != current

    async def _ask_token(self, key: str, realm: tuple[str, str | None], scope: str | None,
                         ask: Ask, *, batch: bool) -> str | None:
        """A token for ``key``; batching, the expected repositories' tokens come too.

        Those are asked at once, :data:`SCOPES_PER_TOKEN` per request and up to
        :data:`TOKENS_AHEAD` requests side by side, so that the requests that follow find
        their tokens ready instead of each batch's first one waiting a round trip. A
        registry that refuses a request for several scopes (some proxies do) is asked for
        one repository at a time from then on.
        """
        origin = _origin(key)
        batch = batch and origin not in self._one_at_a_time
        groups: list[list[tuple[str, str | None]]] = [[(key, scope)]]
        if batch:
            expected = self._expected.get(origin, {})
            expected.pop(key, None)
            while expected:
                other = next(iter(expected))
                del expected[other]
                if other in self._tokens or other in self._asking:
                    continue
                if len(groups[-1]) >= SCOPES_PER_TOKEN:
                    if len(groups) > TOKENS_AHEAD:
                        expected[other] = None  # the rest when these are used: tokens expire
                        break
                    groups.append([])
                groups[-1].append((other, _pull_scope(other)))
        # every repository is marked before the first request goes out: a request for one of
        # them meanwhile waits for its token instead of asking again
        asked = [(group, self._mark(group)) for group in groups]
        first, *ahead = asked
        if not ahead:
            token = await self._ask_for(*first, realm, ask)
        else:
            error: Exception | None = None
            token = None
            async with anyio.create_task_group() as tg:
                for group, done in ahead:
                    tg.start_soon(self._ask_ahead, group, done, realm, ask)
                try:
                    token = await self._ask_for(*first, realm, ask)
                except Exception as exc:  # raised as itself, not in an exception group
                    error = exc
            if error is not None:
                raise error
        if token is None and len(first[0]) > 1:
            self._one_at_a_time.add(origin)
            log.info("registry token endpoint of %s refused several scopes at once: asking "
                     "one repository at a time", origin)
            token = await self._ask_for([(key, scope)], self._mark([(key, scope)]), realm, ask)
        return token

    def _mark(self, group: list[tuple[str, str | None]]) -> anyio.Event:
        done = anyio.Event()
        for k, _ in group:
            self._asking[k] = done
        return done

    async def _ask_ahead(self, group: list[tuple[str, str | None]], done: anyio.Event,
                         realm: tuple[str, str | None], ask: Ask) -> None:
        try:
            await self._ask_for(group, done, realm, ask)
        except Exception as exc:  # a guess: a 401, if it comes, is answered as usual
            log.debug("registry token ahead of time not given: %s", exc)

    async def _ask_for(self, group: list[tuple[str, str | None]], done: anyio.Event,
                       realm: tuple[str, str | None], ask: Ask) -> str | None:
        """One token request for the repositories of ``group`` (key, scope), marked
        :meth:`_mark` with ``done``."""
        try:
            scopes = [scope for _, scope in group if scope]
            token = self._read_token(await ask(_token_url(realm[0], realm[1], scopes)))
            if token is not None:
                for k, _ in group:
                    self._tokens[k] = token
            return token
        finally:
            for k, _ in group:
                if self._asking.get(k) is done:
                    del self._asking[k]
            done.set()

    @staticmethod
    def _read_token(response: Response) -> str | None:
        if response.status_code != 200:
            log.warning("registry token endpoint %s answered HTTP %d", response.url,
                        response.status_code)
            return None
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            log.warning("registry token endpoint %s gave no token", response.url)
            return None
        return token

    def __repr__(self) -> str:
        return f"OCIBearerAuth({len(self._tokens)} repository tokens)"
