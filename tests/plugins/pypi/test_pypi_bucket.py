"""``mirrorkit run pypi --dest s3://bucket/prefix`` (moto over HTTP): what a re-run costs.

The plugin's state (project rows with their validators, the root serial) and the core's
plan record live in the bucket with the snapshot, so a bucket mirror re-runs as cheaply as
a local one: an unchanged upstream costs the root listing and writes nothing; a changed
project costs its own page, asked for with the validators the last run saved.
"""

from __future__ import annotations

import pytest

from tests.plugins.pypi.conftest import populate
from tests.plugins.pypi.fake_pypi import JSON_TYPE, FakePyPI, build_wheel
from tests.support.cli import Result, run_cli
from tests.support.s3 import bucket_objects, new_bucket

LINUX_311 = ("--python-version", "3.11", "--platform", "manylinux_2_28_x86_64")
ARGS = ("--package", "alpha", "--with-deps", *LINUX_311)


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    return new_bucket("pypi")


def mirror(pypi: FakePyPI, dest: str, *args: str) -> Result:
    return run_cli("run", "pypi", "--dest", dest, "--index-url", pypi.index_url, "--json",
                   "--retries", "1", "--backoff-initial", "0", "--backoff-max", "0", *args)




def page_etag(pypi: FakePyPI, name: str) -> str:
    """The ETag upstream gives a project's page now (as the plugin asks for it, in JSON)."""
    import urllib.request

    req = urllib.request.Request(f"{pypi.index_url}{name}/", headers={"Accept": JSON_TYPE})
    with urllib.request.urlopen(req, timeout=10) as resp:
        etag: str = resp.headers["ETag"]
    return etag


def test_unchanged_rerun_asks_for_the_root_only_and_leaves_the_bucket_as_it_was(
        pypi: FakePyPI, bucket: str) -> None:
    dest = f"s3://{bucket}/pypi"
    first = mirror(pypi, dest, *ARGS)
    assert first.code == 0, first.stderr
    # alpha 1.0 and 2.0, wheel and sdist; beta 1.5 and eta: each with .metadata; zeta's wheel
    assert first.json["downloaded"] == 13
    before = bucket_objects(bucket, written_at=True)
    assert "pypi/simple/zeta/index.html" in before
    pypi.up.clear_log()
    second = mirror(pypi, dest, *ARGS)
    assert second.code == 0, second.stderr
    assert second.json["downloaded"] == 0 and second.json["removed"] == 0
    assert [r.path for r in pypi.up.log] == ["/simple/"]
    assert bucket_objects(bucket, written_at=True) == before


def test_a_changed_project_costs_its_page_asked_with_the_validators_saved_in_the_bucket(
        pypi: FakePyPI, bucket: str) -> None:
    dest = f"s3://{bucket}/pypi"
    assert mirror(pypi, dest, *ARGS).code == 0
    before = bucket_objects(bucket, written_at=True)
    saved_etag = page_etag(pypi, "eta")
    pypi.add("eta", build_wheel("eta", "1.1"))
    pypi.up.clear_log()
    res = mirror(pypi, dest, *ARGS)
    assert res.code == 0, res.stderr
    # the other pages are planned from their rows in the bucket (serials unchanged), and
    # the dependencies of their versions from the rows too: no .metadata is read again
    pages = [r for r in pypi.up.requests("/simple/") if r.path != "/simple/"]
    assert [r.path for r in pages] == ["/simple/eta/"]
    assert pages[0].headers.get("If-None-Match") == saved_etag
    assert sorted(pypi.file_requests()) == [
        "/files/eta/eta-1.1-py3-none-any.whl", "/files/eta/eta-1.1-py3-none-any.whl.metadata"]
    assert res.json["downloaded"] == 2
    after = bucket_objects(bucket, written_at=True)
    assert res.json["removed"] == 2  # eta 1.0 and its .metadata: newest only
    assert not any("/eta-1.0-" in k for k in after)
    assert b"eta-1.1-py3-none-any.whl" in after["pypi/simple/eta/index.html"][2]
    # written: eta's new files, its pages, and the root's JSON page (it has the serials);
    # every other object of the mirror is as it was
    written = {k for k in after if "/.mirrorkit/" not in k and before.get(k) != after[k]}
    assert {k.rsplit("/", 1)[1] for k in written if k.startswith("pypi/packages/")} == {
        "eta-1.1-py3-none-any.whl", "eta-1.1-py3-none-any.whl.metadata"}
    assert {k for k in written if k.startswith("pypi/simple/")} == {
        "pypi/simple/eta/index.html", "pypi/simple/eta/index.v1_html",
        "pypi/simple/eta/index.v1_json", "pypi/simple/index.v1_json"}


def test_without_serials_every_page_is_a_304_against_the_bucket_state(
        bucket: str) -> None:
    pypi = FakePyPI(serials=False, json_api=False).start()
    try:
        populate(pypi)
        dest = f"s3://{bucket}/pypi"
        assert mirror(pypi, dest, *ARGS).code == 0
        before = bucket_objects(bucket, written_at=True)
        pypi.up.clear_log()
        res = mirror(pypi, dest, *ARGS)
        assert res.code == 0, res.stderr
        assert res.json["downloaded"] == 0 and pypi.file_requests() == []
        pages = [r for r in pypi.up.log if r.path != "/simple/"]
        assert sorted(r.path for r in pages) == [
            "/simple/alpha/", "/simple/beta/", "/simple/eta/", "/simple/zeta/"]
        # each with the ETag of the page unchanged upstream: each answered 304
        assert all(r.headers.get("If-None-Match") == page_etag(pypi, r.path.split("/")[2])
                   for r in pages)
        assert bucket_objects(bucket, written_at=True) == before
    finally:
        pypi.up.stop()
