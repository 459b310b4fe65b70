"""The apt registry into a bucket (``--dest s3://...``, moto over HTTP) and what its plugin
state keeps between runs: the absent index list, the kept plan, the size estimate; and a
changed input (upstream or the mirror list) planned again, only what changed fetched."""

from __future__ import annotations

import json
from pathlib import Path

from tests.plugins.apt.conftest import TOKEN, AptUpstream, World
from tests.plugins.apt.test_apt_e2e import files_under, write_list
from tests.support.cli import Result, run_cli
from tests.support.logged_bucket import LoggedBucket

LOCK = "mirror/.mirrorkit/lock"
RELEASE_FILES = ("InRelease", "Release", "Release.gpg")
HELLO_1_0 = ("pool/main/h/hello/hello_1.0_amd64.deb", "pool/main/h/hello/hello_1.0_arm64.deb",
             "pool/main/h/hello/hello_1.0.dsc", "pool/main/h/hello/hello_1.0.tar.xz")


def run_into(bucket: LoggedBucket, listing: Path, *extra: str) -> Result:
    res = run_cli("run", "apt", "--mirror-list", listing, "--dest", bucket.url, "--json",
                  *extra, env=bucket.env())
    assert res.code == 0, res.stderr
    assert TOKEN not in res.stdout + res.stderr
    return res


def upstream_requests(up: AptUpstream) -> list[tuple[str, str, bool]]:
    """(method, path, conditional) of every request upstream saw since the last clear."""
    return [(r.method, r.path, "If-None-Match" in r.headers or "If-Modified-Since" in r.headers)
            for r in up.server.log]


def only_release_files(requests: list[tuple[str, str, bool]], suites: int) -> bool:
    """Three conditional GETs per suite, for its Release files, and nothing else."""
    return (len(requests) == 3 * suites
            and all(m == "GET" and cond and p.rsplit("/", 1)[1] in RELEASE_FILES
                    for m, p, cond in requests))


def test_a_no_op_into_a_bucket_writes_nothing_and_the_state_lives_there(
        world: World, apt_up: AptUpstream, bucket: LoggedBucket, tmp_path: Path) -> None:
    listing = write_list(tmp_path, apt_up, world.key.keyring)  # /debian (2 arches) and ESM
    first = run_into(bucket, listing)
    published = bucket.published()
    assert published and first.json["downloaded"] == len(published)

    # The first re-run plans once more (the first run asked which Release files exist,
    # which a run whose previous snapshot has them does not): it downloads nothing, and
    # the absent list in the bucket spares it the HEAD of every uncompressed Packages
    # file Release lists but the server lacks.
    apt_up.server.clear_log()
    second = run_into(bucket, listing)
    assert second.json["downloaded"] == 0 and second.json["removed"] == 0
    assert only_release_files(upstream_requests(apt_up), suites=2)
    assert bucket.published() == published

    # From then on an unchanged run is the previous plan kept: three conditional requests
    # per suite, no Packages file read back from the bucket, nothing written, the bucket
    # byte for byte as it was; the size estimate is the last plan's, from the state.
    before = bucket.objects()
    apt_up.server.clear_log()
    bucket.clear()
    third = run_into(bucket, listing)
    assert only_release_files(upstream_requests(apt_up), suites=2)
    assert third.json["downloaded"] == 0 and third.json["skipped"] == len(published)
    for key in ("bytes", "packages", "included_repos"):
        assert third.json[key] == first.json[key]
    read_back = [k for m, k in bucket.requests if m == "GET" and "/Packages" in k]
    assert read_back == []
    assert [w for w in bucket.writes() if w[1] != LOCK] == []
    assert bucket.objects() == before
    state = json.loads(before["mirror/.mirrorkit/published.json"][1])["state"]
    assert {"plugin/apt-absent.json", "plugin/apt-selection.json"} <= set(state)
    assert not any(TOKEN.encode() in body for _, body in before.values())


def test_without_clean_the_bucket_keeps_what_upstream_dropped(
        world: World, apt_up: AptUpstream, bucket: LoggedBucket, tmp_path: Path) -> None:
    listing = tmp_path / "mirror.list"
    listing.write_text(f"set defaultarch amd64\ndeb [arch=amd64,arm64 signed-by="
                       f"{world.key.keyring}] {apt_up.url}/debian stable main\n"
                       f"deb-src [signed-by={world.key.keyring}] {apt_up.url}/debian "
                       "stable main\n")  # no clean line: apt-mirror keeps everything
    run_into(bucket, listing)
    debian = "127.0.0.1/debian/"

    apt_up.publish("/debian", world.v2)  # hello 1.0 -> 1.1
    bumped = run_into(bucket, listing)
    got = bucket.published()
    assert all(got[debian + p] == world.v1.files()[p] for p in HELLO_1_0)
    assert debian + "pool/main/h/hello/hello_1.1_amd64.deb" in got
    assert bumped.json["removed"] == 0

    apt_up.publish("/debian", world.v3)  # the package common dropped
    dropped = run_into(bucket, listing)
    got = bucket.published()
    common = "pool/main/c/common/common_1.0_all.deb"
    assert got[debian + common] == world.v1.files()[common] == world.v2.files()[common]
    assert all(debian + p in got for p in HELLO_1_0)
    assert dropped.json["removed"] == 0
    # and the manifest still names them, so verify vouches for them
    verify = run_cli("verify", bucket.url, env=bucket.env())
    assert verify.code == 0, verify.stdout + verify.stderr


def test_a_new_package_in_one_suite_fetches_only_it(
        world: World, apt_up: AptUpstream, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    key = world.key.keyring
    listing = tmp_path / "mirror.list"
    listing.write_text(f"deb [arch=amd64 signed-by={key}] {apt_up.url}/debian stable main\n"
                       f"deb [arch=amd64 signed-by={key}] {apt_up.url}/other stable main\n")
    assert run_cli("run", "apt", "--mirror-list", listing, "--dest", dest).code == 0
    before = files_under(dest)

    apt_up.publish("/debian", world.v1_new)
    apt_up.server.clear_log()
    res = run_cli("run", "apt", "--mirror-list", listing, "--dest", dest, "--json")
    assert res.code == 0, res.stderr
    requests = upstream_requests(apt_up)
    pool = [p for m, p, _ in requests if "/pool/" in p]
    assert pool == ["/debian/pool/main/n/newpkg/newpkg_1.0_amd64.deb"]
    other = [r for r in requests if r[1].startswith("/other/")]
    assert only_release_files(other, suites=1)  # the unchanged suite: nothing more
    after = files_under(dest)
    new_pool = {p for p in after if "/pool/" in p} - {p for p in before if "/pool/" in p}
    assert new_pool == {"127.0.0.1/debian/pool/main/n/newpkg/newpkg_1.0_amd64.deb"}
    assert {p for p in after if p.startswith("127.0.0.1/other/")} == {
        p for p in before if p.startswith("127.0.0.1/other/")}
    assert res.json["removed"] == 0


def test_a_changed_mirror_list_is_planned_again(
        world: World, apt_up: AptUpstream, tmp_path: Path) -> None:
    """Nothing changed upstream, but the list asks for more: the previous plan is not it."""
    dest = tmp_path / "mirror"
    listing = tmp_path / "mirror.list"
    line = f"deb [arch={{}} signed-by={world.key.keyring}] {apt_up.url}/debian stable main\n"
    listing.write_text(line.format("amd64"))
    args = ("--log-level", "info", "run", "apt", "--mirror-list", listing, "--dest", dest)
    for _ in range(2):
        assert run_cli(*args).code == 0
    kept = run_cli(*args)
    assert kept.code == 0 and "the snapshot" in kept.stderr and "stays" in kept.stderr
    assert not any("arm64" in p for p in files_under(dest))

    listing.write_text(line.format("amd64,arm64"))  # the same file, one more architecture
    res = run_cli(*args)
    assert res.code == 0, res.stderr
    assert "stays" not in res.stderr
    got = files_under(dest)
    assert got["127.0.0.1/debian/pool/main/h/hello/hello_1.0_arm64.deb"] == world.v1.files()[
        "pool/main/h/hello/hello_1.0_arm64.deb"]
    assert "127.0.0.1/debian/dists/stable/main/binary-arm64/Packages.xz" in got
