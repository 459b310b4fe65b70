"""The one transport against real loopback servers: auth flows, the response type, proxies."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import pytest

from mirrorkit.api import Auth, BasicAuth, OCIBearerAuth, Response
from mirrorkit.core.plan.registry import FetchError
from mirrorkit.core.transport import TransportSettings
from mirrorkit.core.transport.client import Transport
from mirrorkit.core.transport.errors import Permanent
from tests.support.upstream import Handler, Upstream

FAST = TransportSettings(retries=1, backoff_initial=0.01, backoff_max=0.02, read_timeout=5)
T = TypeVar("T")


def run(job: Callable[[Transport], Awaitable[T]], settings: TransportSettings = FAST) -> T:
    async def go() -> T:
        async with Transport(settings) as transport:
            return await job(transport)

    return anyio.run(go)


def registry(api: Upstream, cdn: Upstream) -> None:
    """An OCI registry wanting a token per repository; blobs redirect to ``cdn``."""

    def token(req: Handler) -> bool:
        scope = urllib.parse.unquote(req.path.split("scope=", 1)[1])
        req.send_body(200, json.dumps({"token": f"tok-{scope}"}).encode())
        return True

    def v2(req: Handler) -> bool:
        repo = req.path.split("/v2/", 1)[1].split("/blobs/")[0].split("/manifests/")[0]
        if req.headers.get("Authorization") != f"Bearer tok-repository:{repo}:pull":
            req.send_body(401, b"", {"WWW-Authenticate": f'Bearer realm="{api.url}/token",'
                                     f'service="reg",scope="repository:{repo}:pull"'})
        elif "/blobs/" in req.path:
            req.send_body(307, b"", {"Location": f"{cdn.url}/blob"})
        else:
            req.send_body(200, b'{"manifests": []}', {"Content-Type": "application/json"})
        return True

    def cdn_guard(req: Handler) -> bool:
        if "Authorization" in req.headers:
            req.send_body(400, b"credentials reached the CDN")
            return True
        return False

    api.route("/token", token)
    api.route("/v2/", v2)
    cdn.add("/blob", b"bottle bytes")
    cdn.route("/blob", cdn_guard)


@pytest.fixture
def cdn() -> Upstream:
    server = Upstream().start()
    yield server  # type: ignore[misc]
    server.stop()


def test_oci_bearer_asks_one_token_per_repository_and_keeps_it_off_the_cdn(
        upstream: Upstream, cdn: Upstream) -> None:
    registry(upstream, cdn)
    auth = OCIBearerAuth()

    async def job(t: Transport) -> list[bytes]:
        out: list[bytes] = []

        async def get(url: str) -> None:
            out.append((await t.request(url, auth=auth)).content)

        async with anyio.create_task_group() as tg:  # ten at once: one token request
            for _ in range(10):
                tg.start_soon(get, f"{upstream.url}/v2/a/manifests/1")
        await get(f"{upstream.url}/v2/a/blobs/sha256:1")
        await get(f"{upstream.url}/v2/b/manifests/1")
        return out

    bodies = run(job)
    assert bodies.count(b'{"manifests": []}') == 11 and b"bottle bytes" in bodies
    tokens = upstream.requests("/token")
    assert [urllib.parse.unquote(r.path.split("scope=")[1]) for r in tokens] == [
        "repository:a:pull", "repository:b:pull"]
    assert upstream.requests("/v2/a/")[0].headers["Authorization"] == "Bearer QQ=="
    # once the registry has challenged, a new repository's token is asked before its first
    # request: no 401 round trip for it
    [b] = upstream.requests("/v2/b/")
    assert b.headers["Authorization"] == "Bearer tok-repository:b:pull"
    assert cdn.requests("/blob") and all("Authorization" not in r.headers
                                         for r in cdn.requests("/blob"))


def scoped_registry(api: Upstream, *, grants: int, refuses_several: bool = False) -> None:
    """A registry whose tokens name the repositories they were granted for: at most
    ``grants`` of the scopes a token request lists (or, ``refuses_several``, a 400 for a
    request listing more than one)."""

    def token(req: Handler) -> bool:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
        if refuses_several and len(query["scope"]) > 1:
            req.send_body(400, b'{"errors": [{"code": "UNSUPPORTED"}]}')
            return True
        repos = [s.split(":")[1] for s in query["scope"]][:grants]
        req.send_body(200, json.dumps({"token": "tok:" + ",".join(repos)}).encode())
        return True

    def v2(req: Handler) -> bool:
        repo = req.path.split("/v2/", 1)[1].split("/manifests/")[0]
        granted = req.headers.get("Authorization", "").removeprefix("Bearer tok:").split(",")
        if repo not in granted:
            req.send_body(401, b"", {"WWW-Authenticate": f'Bearer realm="{api.url}/token",'
                                     f'service="reg",scope="repository:{repo}:pull"'})
        else:
            req.send_body(200, repo.encode())
        return True

    api.route("/token", token)
    api.route("/v2/", v2)


def _pull_expected(upstream: Upstream, repos: list[str], *,
                   first_alone: bool = True) -> list[bytes]:
    auth = OCIBearerAuth()
    urls = [f"{upstream.url}/v2/{repo}/manifests/1" for repo in repos]
    auth.expect(urls)

    async def job(t: Transport) -> list[bytes]:
        out: list[bytes] = []

        async def get(url: str) -> None:
            out.append((await t.request(url, auth=auth)).content)

        if first_alone:  # the registry challenges once: its realm is known from then on
            await get(urls[0])
        async with anyio.create_task_group() as tg:
            for url in urls[1:] if first_alone else urls:
                tg.start_soon(get, url)
        return out

    return run(job)


def test_expected_repositories_share_token_requests(upstream: Upstream) -> None:
    scoped_registry(upstream, grants=100)
    repos = [f"homebrew/core/f{i}" for i in range(70)]
    assert sorted(_pull_expected(upstream, repos)) == sorted(r.encode() for r in repos)
    scopes = [urllib.parse.parse_qs(urllib.parse.urlsplit(r.path).query)["scope"]
              for r in upstream.requests("/token")]
    # 70 repositories, at most SCOPES_PER_TOKEN (32) per token request: 3 requests, not 70
    assert sorted(len(s) for s in scopes) == [6, 32, 32]
    assert sorted(x for s in scopes for x in s) == sorted(f"repository:{r}:pull" for r in repos)
    # only the first request met a 401; the others went out with their token
    assert len(upstream.requests("/v2/")) == 71
    # the three token requests went out side by side while the first request was answered,
    # before any other request: none of those waited for its token
    kinds = ["token" if r.path.startswith("/token") else "v2" for r in upstream.log]
    assert kinds[:5] == ["v2", "token", "token", "token", "v2"]


def test_a_token_granted_for_fewer_repositories_is_completed_per_repository(
        upstream: Upstream) -> None:
    scoped_registry(upstream, grants=1)  # a registry that honours only the first scope
    repos = [f"homebrew/core/f{i}" for i in range(10)]
    assert sorted(_pull_expected(upstream, repos)) == sorted(r.encode() for r in repos)
    # the nine repositories the shared token did not cover were challenged and each
    # answered alone: one token request each, as many as without sharing
    assert len(upstream.requests("/token")) == len(repos)
    assert len(upstream.requests("/v2/")) == 2 * len(repos)


def test_requests_sent_before_a_shared_token_covering_fewer_repositories_all_succeed(
        upstream: Upstream) -> None:
    """All at once, before the registry has challenged: each waits for the shared token,
    retries with it, and when it does not cover its repository asks for one of its own."""
    scoped_registry(upstream, grants=1)
    repos = [f"homebrew/core/f{i}" for i in range(10)]
    got = _pull_expected(upstream, repos, first_alone=False)
    assert sorted(got) == sorted(r.encode() for r in repos)


def test_a_token_endpoint_refusing_several_scopes_is_asked_one_at_a_time(
        upstream: Upstream) -> None:
    scoped_registry(upstream, grants=100, refuses_several=True)
    repos = [f"homebrew/core/f{i}" for i in range(12)]
    assert sorted(_pull_expected(upstream, repos)) == sorted(r.encode() for r in repos)
    scopes = [urllib.parse.parse_qs(urllib.parse.urlsplit(r.path).query)["scope"]
              for r in upstream.requests("/token")]
    assert sum(len(s) > 1 for s in scopes) == 1  # refused once, then never asked again
    assert sorted(s[0] for s in scopes if len(s) == 1) == sorted(
        f"repository:{r}:pull" for r in repos)


def test_a_refused_token_leaves_the_401(upstream: Upstream) -> None:
    def v2(req: Handler) -> bool:
        req.send_body(401, b"", {"WWW-Authenticate": f'Bearer realm="{upstream.url}/token"'})
        return True

    upstream.route("/v2/", v2)  # /token itself is a 404
    with pytest.raises(Permanent, match="HTTP 401"):
        run(lambda t: t.request(f"{upstream.url}/v2/x/manifests/1", auth=OCIBearerAuth()))
    assert len(upstream.requests("/v2/")) == 1 and len(upstream.requests("/token")) == 1


def test_basic_auth_goes_to_its_own_host_only(upstream: Upstream, cdn: Upstream) -> None:
    def redirect(req: Handler) -> bool:
        req.send_body(302, b"", {"Location": f"{cdn.url}/file"})
        return True

    upstream.route("/r", redirect)
    cdn.add("/file", b"payload")
    auth: Auth = BasicAuth("user", "s3cret-pass")
    resp = run(lambda t: t.request(f"{upstream.url}/r", auth=auth))
    assert resp.content == b"payload"
    assert upstream.requests("/r")[0].headers["Authorization"] == "Basic dXNlcjpzM2NyZXQtcGFzcw=="
    assert "Authorization" not in cdn.requests("/file")[0].headers
    assert "s3cret" not in repr(auth)


def test_the_response_type_is_mirrorkits_own(upstream: Upstream) -> None:
    upstream.add("/doc", "{\"name\": \"caf\u00e9\"}".encode("latin-1"),
                 headers={"Content-Type": "application/json; charset=latin-1", "X-Thing": "1"})

    def redirect(req: Handler) -> bool:
        req.send_body(301, b"", {"Location": "/doc"})
        return True

    upstream.route("/old", redirect)
    resp = run(lambda t: t.request(f"{upstream.url}/old"))
    assert isinstance(resp, Response)
    assert resp.status_code == 200
    assert resp.url == f"{upstream.url}/doc"
    assert resp.headers.get("x-thing") == "1" and resp.headers.get("X-THING") == "1"
    assert resp.text == '{"name": "caf\u00e9"}'
    assert resp.json() == {"name": "caf\u00e9"}


def test_status_errors_and_the_size_cap_raise_fetch_errors_through_ctx_get(
        upstream: Upstream) -> None:
    from mirrorkit.core.fetch.downloader import Downloader

    upstream.add("/big", b"x" * 5000)

    async def go(url: str, max_bytes: int) -> Response:
        async with Downloader(FAST) as dl:
            return await dl.get(url, max_bytes=max_bytes)

    with pytest.raises(FetchError, match="HTTP 404"):
        anyio.run(go, f"{upstream.url}/missing", 100)
    with pytest.raises(FetchError, match="larger than 1000 bytes"):
        anyio.run(go, f"{upstream.url}/big", 1000)


def test_all_proxy_is_used_when_no_scheme_proxy_is_set(
        upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    def proxy(req: Handler) -> bool:
        req.send_body(200, b"via proxy")
        return True

    upstream.route("http://mirror.invalid/", proxy)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", upstream.url.removeprefix("http://"))  # no scheme
    assert run(lambda t: t.request("http://mirror.invalid/f")).content == b"via proxy"
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(Permanent, match="socks5 proxies are not supported"):
        run(lambda t: t.request("http://mirror.invalid/f"))
