"""TLS is verified; a private CA is trusted only when the operator names it."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.support.cli import run_cli
from tests.support.static_list import publish, run_args
from tests.support.upstream import Upstream


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[Upstream, Path]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    ca_file = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = Upstream(tls=ctx).start()
    try:
        yield server, ca_file
    finally:
        server.stop()


def test_untrusted_certificate_is_refused_and_ca_bundle_trusts_it(
    tls_upstream: tuple[Upstream, Path], tmp_path: Path
) -> None:
    upstream, ca_file = tls_upstream
    publish(upstream, {"a.bin": b"x" * 5000})
    dest = tmp_path / "mirror"
    refused = run_cli(*run_args(upstream, dest, "--retries", "0"))
    assert refused.code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr or "certificate" in refused.stderr
    assert not (dest / "index.json").exists()

    trusted = run_cli(*run_args(upstream, dest, "--ca-bundle", ca_file, "--json"))
    assert trusted.code == 0, trusted.stderr
    assert (dest / "a.bin").read_bytes() == b"x" * 5000


def test_the_default_store_is_the_systems_and_honours_ssl_cert_file(
    tls_upstream: tuple[Upstream, Path], tmp_path: Path
) -> None:
    """Without ``--ca-bundle``, https requests trust the default store, which an operator
    can point at a private CA with ``SSL_CERT_FILE`` (the transport builds that store
    itself, when the first https request needs it)."""
    upstream, ca_file = tls_upstream
    publish(upstream, {"a.bin": b"y" * 3000})
    dest = tmp_path / "mirror"
    trusted = run_cli(*run_args(upstream, dest, "--json"), env={"SSL_CERT_FILE": str(ca_file)})
    assert trusted.code == 0, trusted.stderr
    assert (dest / "a.bin").read_bytes() == b"y" * 3000
