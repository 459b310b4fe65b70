"""``mirrorkit run conda --package SPEC [--with-deps]``: a closure, with repodata to match."""

from __future__ import annotations

import json
from pathlib import Path

from tests.plugins.conda.channel import Channel, Pkg
from tests.plugins.conda.helpers import listed, mirror, read_variants
from tests.support.cli import run_cli
from tests.support.trees import files

# app 1.0 -> libfoo >=1.1 (1.1 .tar.bz2 and 1.2 .conda; not 1.0), data (noarch) -> libz
CLOSURE = {"linux-64": {"app-1.0", "libfoo-1.1", "libfoo-1.2", "libz-1.3"},
           "noarch": {"data-2.0"}}


def chosen(channel: Channel, wanted: dict[str, set[str]]) -> set[str]:
    return {p.path for p in channel.packages
            if f"{p.name}-{p.version}" in wanted.get(p.subdir, set())}


def index_files(subdirs: tuple[str, ...] = ("linux-64", "noarch")) -> set[str]:
    names = ["repodata.json", "repodata.json.zst", "repodata.json.bz2", "current_repodata.json"]
    return {f"{s}/{n}" for s in subdirs for n in names} | {"channeldata.json"}


def assert_consistent(dest: Path, subdir: str, expected: set[str]) -> None:
    v = read_variants(dest, subdir)
    assert listed(v["json"]) == {p.rsplit("/", 1)[1] for p in expected if p.startswith(subdir)}
    assert v["zst"] == v["raw"] and v["bz2"] == v["raw"]  # the same document in each encoding
    assert listed(v["current"]) <= listed(v["json"])
    for section in ("packages", "packages.conda"):
        for name, record in v["current"][section].items():
            assert v["json"][section][name] == record


def test_closure_with_dependencies(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    result = mirror(channel, dest, "--package", "app", "--with-deps")
    assert result.code == 0, result.stderr
    expected = chosen(channel, CLOSURE)
    assert files(dest) == expected | index_files()
    for path in expected:
        assert (dest / path).read_bytes() == channel.upstream.files[f"/chan/{path}"].body
    for subdir in ("linux-64", "noarch"):
        assert_consistent(dest, subdir, expected)
    # records are upstream's own, field for field
    upstream = json.loads(channel.upstream.files["/chan/linux-64/repodata.json"].body)
    mirrored = json.loads((dest / "linux-64/repodata.json").read_bytes())
    for section in ("packages", "packages.conda"):
        for name, record in mirrored[section].items():
            assert record == upstream[section][name]
    current = read_variants(dest, "linux-64")["current"]
    assert {r["version"] for r in current["packages.conda"].values()
            if r["name"] == "libfoo"} == {"1.2"}
    channeldata = json.loads((dest / "channeldata.json").read_bytes())
    assert set(channeldata["packages"]) == {"app", "libfoo", "libz", "data"}
    assert channeldata["subdirs"] == ["linux-64", "noarch"]
    assert run_cli("verify", dest).code == 0


def test_specs_without_deps_and_with_versions(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    result = mirror(channel, dest, "--package", "libfoo >=1.1,<1.2", "--package", "data")
    assert result.code == 0, result.stderr
    expected = chosen(channel, {"linux-64": {"libfoo-1.1"}, "noarch": {"data-2.0"}})
    assert files(dest) == expected | index_files()


def test_noop_rerun_sends_conditional_requests_only(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest, "--package", "app", "--with-deps").code == 0
    before = {p: (dest / p).stat().st_mtime_ns for p in files(dest)}
    channel.upstream.clear_log()
    again = mirror(channel, dest, "--package", "app", "--with-deps")
    assert again.code == 0, again.stderr
    assert again.json["downloaded"] == 0 and again.json["removed"] == 0
    gets = channel.upstream.requests(method="GET")
    assert gets and all("If-None-Match" in r.headers or "If-Modified-Since" in r.headers
                        for r in gets), [r.path for r in gets]
    assert not any(r.path.endswith((".conda", ".tar.bz2")) for r in channel.upstream.log)
    assert {p: (dest / p).stat().st_mtime_ns for p in files(dest)} == before


def test_update_prunes_what_the_closure_left(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest, "--package", "app", "--with-deps").code == 0
    # app 1.1 needs only libfoo >=1.2: libfoo 1.1 leaves the closure; app 1.0 stays
    channel.add(Pkg("app", "1.1", "linux-64", ("libfoo >=1.2",)))
    old_libz = next(p for p in channel.packages if p.name == "libz")
    channel.remove(old_libz)
    channel.add(Pkg("libz", "1.4", "linux-64"))
    channel.publish()
    result = mirror(channel, dest, "--package", "app >=1.1", "--with-deps")
    assert result.code == 0, result.stderr
    expected = chosen(channel, {"linux-64": {"app-1.1", "libfoo-1.2"}})
    assert files(dest) == expected | index_files()
    assert not (dest / old_libz.path).exists()
    assert_consistent(dest, "linux-64", expected)
    assert listed(read_variants(dest, "noarch")["json"]) == set()


def test_failed_package_keeps_the_selective_repodata(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest, "--package", "app", "--with-deps").code == 0
    served = {p: (dest / p).read_bytes() for p in index_files()}
    newer = Pkg("libfoo", "1.5", "linux-64")
    channel.add(newer, Pkg("data", "2.1", "noarch", ("libz",)))
    channel.publish()
    channel.upstream.fault(f"/chan/{newer.path}", "truncate", times=10)
    result = mirror(channel, dest, "--package", "app", "--with-deps")
    assert result.code == 1
    assert any(e["path"] == newer.path for e in result.json["errors"])
    assert {p: (dest / p).read_bytes() for p in served} == served
    assert not (dest / newer.path).exists()


def test_spec_matching_nothing_is_one_clear_line(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    result = mirror(channel, dest, "--package", "libfoo >=9")
    assert result.code == 1
    assert "no package matches 'libfoo >=9'" in result.stderr
    assert files(dest) == set()


def test_work_directory_keeps_only_the_generated_index(channel: Channel, tmp_path: Path) -> None:
    """Upstream's repodata (200 MB decoded for conda-forge) lives in plugin state, not in
    the work directory; caches of earlier versions there are removed."""
    dest = tmp_path / "m"
    work = dest / ".mirrorkit/work/conda"
    legacy = [work / "plans/whole-linux-64.tsv",
              work / "upstream/linux-64/repodata.json.validators.json"]
    for path in legacy:
        path.parent.mkdir(parents=True)
        path.write_text("left by an earlier version")
    assert mirror(channel, dest, "--package", "app", "--with-deps").code == 0
    assert sorted(p.name for p in work.iterdir()) == ["out"]
    assert sorted(p.relative_to(work / "out").as_posix() for p in (work / "out").rglob("*")
                  if p.is_file()) == sorted(index_files())
