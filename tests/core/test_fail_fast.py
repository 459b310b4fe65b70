"""What no retry can fix fails at once (docs/reliability.md has the list): a host name that
does not resolve, a certificate that is not trusted, a 4xx other than 408 and 429.

Each run uses the default retries (five, backing off from half a second): with them, an
offline ``run homebrew`` spent 13 s retrying a name that does not resolve. A run that fails
at once takes 0.3 s on an idle machine; the bound of 2 s leaves room for a busy one, and
"retrying" must not appear at ``-v``. (An untrusted certificate was already final, reported
as an "invalid URL"; 4xx other than 408 and 429 already were: both are pinned here.)
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
import trustme

from tests.support.cli import run_cli
from tests.support.static_list import INDEX, publish
from tests.support.upstream import Handler, Upstream

#: ``.invalid`` is reserved (RFC 6761): it never resolves
HOST = "formulae.brew.invalid"


def test_an_api_host_that_does_not_resolve_fails_the_homebrew_run_at_once(
        tmp_path: Path) -> None:
    """The weekly job on a machine that went offline: ``run homebrew`` fails in a moment."""
    with pytest.raises(socket.gaierror) as unknown:  # what the test stands on
        socket.getaddrinfo(HOST, 443)
    assert unknown.value.errno == socket.EAI_NONAME, unknown.value
    res = run_cli("-v", "run", "homebrew", "--api-url", f"https://{HOST}/api",
                  "--formula", "hello", "--tag", "arm64_sequoia", "--dest", tmp_path / "m",
                  "--json")
    assert res.code == 1, res.stderr
    assert res.json["duration_s"] < 2.0, res.json["duration_s"]  # 13 s before (0.3 s idle)
    assert "retrying" not in res.stderr
    errors = res.json["errors"]
    assert errors and all(HOST in e["url"] and "does not resolve" in e["error"]
                          for e in errors)
    assert not (tmp_path / "m" / "api").exists()


def test_an_untrusted_certificate_fails_at_once(tmp_path: Path) -> None:
    ca = trustme.CA()  # a CA the client was never told about
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    with Upstream(tls=ctx) as upstream:
        publish(upstream, {"a.bin": b"a" * 100})
        res = run_cli("-v", "run", "static-list", "--index-url", upstream.url + INDEX,
                      "--dest", tmp_path / "m", "--json")
    assert res.code == 1, res.stderr
    assert res.json["duration_s"] < 2.0, res.json["duration_s"]
    assert "retrying" not in res.stderr
    assert "TLS certificate error" in res.json["errors"][0]["error"]
    assert "CERTIFICATE_VERIFY_FAILED" in res.stderr
    assert upstream.requests() == []  # no request went out over it
    assert not (tmp_path / "m" / "index.json").exists()


FINAL = (400, 401, 403, 404, 405, 410, 451)
RETRIED = (408, 429, 500, 502, 503)


def test_4xx_answers_are_final_except_408_and_429(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {f"s{code}.bin": b"x" for code in (*FINAL, *RETRIED)})

    def answer(req: Handler) -> bool:
        code = int(req.path.rsplit("/s", 1)[1].split(".")[0])
        req.send_body(code, b"no\n")
        return True

    upstream.route("/repo/files/", answer)
    res = run_cli("run", "static-list", "--index-url", upstream.url + INDEX,
                  "--dest", tmp_path / "m", "--retries", "2", "--backoff-initial", "0",
                  "--backoff-max", "0", "--json")
    assert res.code == 1
    asked = {code: len(upstream.requests(f"/repo/files/s{code}.bin"))
             for code in (*FINAL, *RETRIED)}
    assert asked == {**{c: 1 for c in FINAL}, **{c: 3 for c in RETRIED}}
    assert {e["path"] for e in res.json["errors"]} == {f"s{c}.bin" for c in (*FINAL, *RETRIED)}
