"""The downloader against real loopback servers: limits, digests, and credentials on redirects."""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import pytest

from mirrorkit.core.fetch.downloader import Downloader
from mirrorkit.core.plan.artifact import Artifact
from mirrorkit.core.plan.digest import Digest
from mirrorkit.core.plan.registry import FetchError
from mirrorkit.core.transport import TransportSettings
from tests.support.upstream import Handler, Upstream

FAST = TransportSettings(retries=1, backoff_initial=0.01, backoff_max=0.02, read_timeout=5)


def fetch(art: Artifact, target: Path, settings: TransportSettings = FAST) -> str:
    async def go() -> str:
        async with Downloader(settings) as dl:
            return (await dl.download(art, target)).sha256

    return anyio.run(go)


def test_authorization_is_not_forwarded_to_another_host(upstream: Upstream,
                                                         tmp_path: Path) -> None:
    other = Upstream().start()
    try:
        body = b"bottle" * 1000
        other.add("/blob", body)

        def refuse_auth(req: Handler) -> bool:
            if "Authorization" in req.headers:
                req.send_body(400, b"credentials must not reach the blob host")
                return True
            return False

        other.route("/blob", refuse_auth)

        def redirect(req: Handler) -> bool:
            assert req.headers["Authorization"] == "Bearer QQ=="
            req.send_body(307, b"", {"Location": other.url + "/blob"})
            return True

        upstream.route("/v2/x/blobs/", redirect)
        art = Artifact.blob("b", upstream.url + "/v2/x/blobs/sha256:1",
                            sha256=hashlib.sha256(body).hexdigest(),
                            headers={"Authorization": "Bearer QQ=="})
        assert fetch(art, tmp_path / "out") == hashlib.sha256(body).hexdigest()
        assert "Authorization" not in other.requests("/blob")[0].headers
    finally:
        other.stop()


def test_body_larger_than_expected_is_cut_off(upstream: Upstream, tmp_path: Path) -> None:
    upstream.add("/big", b"x" * 1_000_000)
    art = Artifact.blob("big", upstream.url + "/big", size=1000)
    with pytest.raises(FetchError, match="announced 1000000 bytes, expected 1000"):
        fetch(art, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_git_blob_sha1_is_verified(upstream: Upstream, tmp_path: Path) -> None:
    upstream.add("/f", b"hello\n")
    good = Artifact.blob("f", upstream.url + "/f", size=6,
                         digest=Digest("git-blob-sha1", "ce013625030ba8dba906f756967f9e9ca394464a"))
    fetch(good, tmp_path / "good")
    bad = Artifact.blob("f", upstream.url + "/f", size=6, digest=Digest("git-blob-sha1", "0" * 40))
    with pytest.raises(FetchError, match="git-blob-sha1 mismatch"):
        fetch(bad, tmp_path / "bad")


def test_client_errors_are_not_retried(upstream: Upstream, tmp_path: Path) -> None:
    art = Artifact.blob("missing", upstream.url + "/missing")
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(art, tmp_path / "out", TransportSettings(retries=3, backoff_initial=0.01))
    assert len(upstream.requests("/missing")) == 1


def test_stall_past_the_timeout_is_retried(upstream: Upstream, tmp_path: Path) -> None:
    upstream.add("/slow", b"data")
    upstream.fault("/slow", "stall", seconds=1.5)
    settings = TransportSettings(retries=2, backoff_initial=0.01, read_timeout=0.5)
    art = Artifact.blob("slow", upstream.url + "/slow", sha256=hashlib.sha256(b"data").hexdigest())
    fetch(art, tmp_path / "out", settings)
    assert len(upstream.requests("/slow")) == 2


def test_proxy_from_environment_is_used(upstream: Upstream, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The loopback upstream plays the proxy: it receives the absolute URL."""

    def proxy(req: Handler) -> bool:
        req.send_body(200, b"via proxy")
        return True

    upstream.route("http://mirror.invalid/", proxy)
    monkeypatch.setenv("HTTP_PROXY", upstream.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    art = Artifact.blob("f", "http://mirror.invalid/f",
                        sha256=hashlib.sha256(b"via proxy").hexdigest())
    fetch(art, tmp_path / "out")
    assert upstream.requests("http://mirror.invalid/f")


def test_truncated_body_says_how_much_arrived(upstream: Upstream, tmp_path: Path) -> None:
    upstream.add("/cut", b"x" * 100_000)
    upstream.fault("/cut", "truncate", times=2)
    art = Artifact.blob("cut", upstream.url + "/cut")
    with pytest.raises(FetchError, match=r"cut: truncated body: got \d+ of 100000 bytes"):
        fetch(art, tmp_path / "out")
    assert len(upstream.requests("/cut")) == 2  # retried once, as configured
    assert not (tmp_path / "out").exists()


def test_redirect_to_a_url_that_is_not_http_is_not_retried(upstream: Upstream,
                                                           tmp_path: Path) -> None:
    def redirect(req: Handler) -> bool:
        req.send_body(302, b"", {"Location": "ftp://127.0.0.1/f"})
        return True

    upstream.route("/r", redirect)
    art = Artifact.blob("f", upstream.url + "/r")
    with pytest.raises(FetchError, match=r"f: invalid URL: .*ftp://127\.0\.0\.1/f"):
        fetch(art, tmp_path / "out", TransportSettings(retries=3, backoff_initial=0.01))
    assert len(upstream.requests("/r")) == 1


def test_proxy_is_chosen_for_each_url_of_a_redirect(upstream: Upstream, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A NO_PROXY upstream redirecting to an outside host: that hop goes through the proxy."""

    def redirect(req: Handler) -> bool:
        req.send_body(302, b"", {"Location": "http://mirror.invalid/f"})
        return True

    def proxy(req: Handler) -> bool:
        req.send_body(200, b"via proxy")
        return True

    upstream.route("/r", redirect)
    upstream.route("http://mirror.invalid/", proxy)
    monkeypatch.setenv("HTTP_PROXY", upstream.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    art = Artifact.blob("f", upstream.url + "/r",
                        sha256=hashlib.sha256(b"via proxy").hexdigest())
    fetch(art, tmp_path / "out")
    assert upstream.requests("/r")  # the first hop went direct
    assert upstream.requests("http://mirror.invalid/f")  # the second through the proxy


def test_a_held_body_comes_back_verified_and_unwritten_only_when_asked(
        upstream: Upstream, tmp_path: Path) -> None:
    """A caller that writes small bodies elsewhere gets them in memory, verified, even after
    a retry; without asking (an empty body included) the file is written as always."""
    body = b"wheel" * 2000
    upstream.add("/w", body)
    upstream.add("/empty", b"")
    upstream.fault("/w", "truncate", times=1)
    settings = TransportSettings(retries=2, backoff_initial=0.01, backoff_max=0.02)
    held = Artifact.blob("w", upstream.url + "/w", sha256=hashlib.sha256(body).hexdigest())
    empty = Artifact.blob("e", upstream.url + "/empty", sha256=hashlib.sha256(b"").hexdigest())

    async def go() -> tuple[bytes | None, bool, bool]:
        async with Downloader(settings) as dl:
            got = await dl.download(held, tmp_path / "held", hold_up_to=64 * 1024)
            plain = await dl.download(empty, tmp_path / "empty")
            big = await dl.download(held, tmp_path / "big", hold_up_to=100)
        return (b"".join(got.body) if got.body is not None else None,
                plain.body is None and (tmp_path / "empty").read_bytes() == b"",
                big.body is None and (tmp_path / "big").read_bytes() == body)

    data, empty_written, big_written = anyio.run(go)
    assert data == body and not (tmp_path / "held").exists()
    assert len(upstream.requests("/w")) == 3  # the truncated try, then two whole ones
    assert empty_written and big_written


def test_mirrors_are_tried_in_order_when_the_url_cannot_give_the_bytes(
        upstream: Upstream, tmp_path: Path) -> None:
    """A miss (404) and wrong bytes each move on to the next URL; the report says why."""
    body = b"archive" * 500
    sha = hashlib.sha256(body).hexdigest()
    upstream.add("/wrong", b"not the archive")
    upstream.add("/right", body)
    art = Artifact.blob("a.tgz", upstream.url + "/cache/missing", sha256=sha,
                        mirrors=(upstream.url + "/wrong", upstream.url + "/right"))
    assert fetch(art, tmp_path / "out") == sha
    assert (tmp_path / "out").read_bytes() == body
    assert [len(upstream.requests(p)) for p in ("/cache/missing", "/wrong", "/right")] == [
        1, 2, 1]  # a 404 is final at once; wrong bytes are retried (FAST: one retry)

    none = Artifact.blob("b.tgz", upstream.url + "/cache/missing", sha256=sha,
                         mirrors=(upstream.url + "/wrong",))
    with pytest.raises(FetchError) as info:
        fetch(none, tmp_path / "none")
    assert "HTTP 404" in info.value.reason
    assert f"{upstream.url}/wrong: sha256 mismatch" in info.value.reason
    assert not (tmp_path / "none").exists()


def test_every_listed_digest_is_checked(upstream: Upstream, tmp_path: Path) -> None:
    body = b"source archive\n"
    upstream.add("/src.tgz", body)
    sha256 = Digest.sha256(hashlib.sha256(body).hexdigest())
    md5 = Digest("md5", hashlib.md5(body).hexdigest())
    sha512 = Digest("sha512", hashlib.sha512(body).hexdigest())
    good = Artifact.blob("s", upstream.url + "/src.tgz", digest=sha512, also=(md5, sha256))
    fetch(good, tmp_path / "good")
    wrong_md5 = Artifact.blob("s", upstream.url + "/src.tgz", digest=sha512,
                              also=(Digest("md5", "0" * 32),))
    with pytest.raises(FetchError, match="md5 mismatch"):
        fetch(wrong_md5, tmp_path / "bad")
    wrong_sha256 = Artifact.blob("s", upstream.url + "/src.tgz", digest=md5,
                                 also=(Digest.sha256("1" * 64),))
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch(wrong_sha256, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
