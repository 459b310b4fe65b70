"""``mirrorkit run pypi`` end to end, against the fake index of fake_pypi.py.

The catalogue (conftest.populate): alpha 1.0 and 2.0 (wheel and sdist) require beta>=1.0,
gamma only before Python 3.8, delta only on Windows and epsilon only with the extra
``fast``; beta has 1.0, 1.5, 2.0 (requires Python >=3.12) and 2.1 (yanked), each requiring
zeta; zeta 1.0 offers no .metadata file (its dependency on eta is read from the wheel);
native has wheels for CPython 3.11 and 3.12 on Linux, 3.11 on Windows, and an sdist.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.plugins.pypi.fake_pypi import FakePyPI, build_wheel
from tests.support.cli import Result, run_cli
from tests.support.trees import files

LINUX_311 = ["--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"]


def mirror(pypi: FakePyPI, dest: Path, *args: str) -> Result:
    return run_cli("run", "pypi", "--dest", dest, "--index-url", pypi.index_url, "--json",
                   "--retries", "1", "--backoff-initial", "0", "--backoff-max", "0", *args)


def dists(dest: Path) -> set[str]:
    return {Path(p).name for p in files(dest)
            if p.startswith("packages/") and not p.endswith(".metadata")}


def saved_state(dest: Path, name: str) -> Path:
    """The plugin state file ``name`` saved with the mirror's current snapshot."""
    refs = json.loads((dest / ".mirrorkit/manifest.json").read_bytes())["state"]
    return dest / ".mirrorkit/state" / refs[f"plugin/{name}"]["sha256"]


def page_json(dest: Path, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((dest / "simple" / name / "index.v1_json").read_text())
    return data


def test_bare_name_mirrors_every_file_with_yanked_requires_python_and_metadata(
        pypi: FakePyPI, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    res = mirror(pypi, dest, "--package", "beta")
    assert res.code == 0, res.stderr
    assert dists(dest) == {f"beta-{v}-py3-none-any.whl" for v in ("1.0", "1.5", "2.0", "2.1")}
    html = (dest / "simple/beta/index.html").read_text()
    assert 'data-yanked="broken build"' in html
    assert 'data-requires-python="&gt;=3.12"' in html
    page = page_json(dest, "beta")
    by_name = {f["filename"]: f for f in page["files"]}  # type: ignore[attr-defined]
    assert by_name["beta-2.1-py3-none-any.whl"]["yanked"] == "broken build"
    assert by_name["beta-2.0-py3-none-any.whl"]["requires-python"] == ">=3.12"
    for name, entry in by_name.items():
        dist = pypi.dist("beta", name)
        local = dest / "simple/beta" / entry["url"]
        assert hashlib.sha256(local.read_bytes()).hexdigest() == dist.sha256 \
            == entry["hashes"]["sha256"]
        assert f'{entry["url"]}#sha256={dist.sha256}' in html
        # the PEP 658 side file sits next to its distribution, with the advertised hash
        meta = Path(str(local) + ".metadata").read_bytes()
        assert meta == dist.metadata
        assert entry["core-metadata"] == {"sha256": hashlib.sha256(meta).hexdigest()}
        assert f'data-core-metadata="sha256={hashlib.sha256(meta).hexdigest()}"' in html
    # bandersnatch's three names, so web server configurations written for it work
    for page in ("simple/beta", "simple"):
        assert (dest / page / "index.v1_html").read_bytes() == (
            dest / page / "index.html").read_bytes()
    root = (dest / "simple/index.html").read_text()
    assert 'href="beta/"' in root and "alpha" not in root
    assert [p["name"] for p in json.loads(
        (dest / "simple/index.v1_json").read_text())["projects"]] == ["beta"]


def test_with_deps_follows_requires_dist_with_markers_and_extras(
        pypi: FakePyPI, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    res = mirror(pypi, dest, "--package", "alpha==2.0", "--with-deps", "--no-sdist",
                 *LINUX_311)
    assert res.code == 0, res.stderr
    # beta: 2.1 is yanked, 2.0 needs Python 3.12: the newest that pip would take is 1.5;
    # gamma (Python < 3.8), delta (Windows), epsilon (extra not asked for) are left out;
    # eta comes from zeta 1.0's wheel (no .metadata file upstream)
    assert dists(dest) == {"alpha-2.0-py3-none-any.whl", "beta-1.5-py3-none-any.whl",
                           "zeta-1.0-py3-none-any.whl", "eta-1.0-py3-none-any.whl"}
    assert sorted(p.name for p in (dest / "simple").iterdir() if p.is_dir()) == [
        "alpha", "beta", "eta", "zeta"]

    res = mirror(pypi, dest, "--package", "alpha[fast]==2.0", "--with-deps", "--no-sdist",
                 *LINUX_311)
    assert res.code == 0, res.stderr
    assert "epsilon-1.0-py3-none-any.whl" in dists(dest)
    assert "delta-1.0-py3-none-any.whl" not in dists(dest)


def test_wheels_selected_by_python_version_and_platform(
        pypi: FakePyPI, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    res = mirror(pypi, dest, "--package", "native", "--no-sdist", *LINUX_311)
    assert res.code == 0, res.stderr
    assert dists(dest) == {"native-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"}
    res = mirror(pypi, dest, "--package", "native", "--platform", "win_amd64",
                 "--platform", "manylinux_2_17_x86_64")
    assert res.code == 0, res.stderr
    assert dists(dest) == {p.filename for p in pypi.projects["native"].dists}


def test_noop_rerun_is_one_request_and_no_download(pypi: FakePyPI, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    args = ("--package", "alpha", "--with-deps", *LINUX_311)
    assert mirror(pypi, dest, *args).code == 0
    before = {p: (dest / p).stat().st_mtime_ns for p in files(dest)}
    pypi.up.clear_log()
    res = mirror(pypi, dest, *args)
    assert res.code == 0, res.stderr
    assert res.json["downloaded"] == 0 and res.json["removed"] == 0
    assert [r.path for r in pypi.up.log] == ["/simple/"]
    assert {p: (dest / p).stat().st_mtime_ns for p in files(dest)} == before

    # a no-op looks at nothing: a file lost from the tree is found by verify, and after
    # verify --repair the next run plans again (from the saved rows: no page is asked
    # for) and fetches it
    lost = next(p for p in files(dest) if p.endswith("beta-1.5-py3-none-any.whl"))
    (dest / lost).unlink()
    assert mirror(pypi, dest, *args).json["downloaded"] == 0
    assert run_cli("verify", dest).code == 1
    assert run_cli("verify", "--repair", dest).code == 1
    pypi.up.clear_log()
    res = mirror(pypi, dest, *args)
    assert res.code == 0, res.stderr
    assert res.json["downloaded"] == 1 and (dest / lost).exists()
    assert [r.path for r in pypi.up.log if r.path.startswith("/simple/")] == ["/simple/"]

    # a project that changed is the only one asked for again
    pypi.add("eta", build_wheel("eta", "1.1"))
    pypi.up.clear_log()
    res = mirror(pypi, dest, *args)
    assert res.code == 0, res.stderr
    assert pypi.page_requests() == ["/simple/eta/"]
    assert "eta-1.1-py3-none-any.whl" in dists(dest)
    assert "eta-1.0-py3-none-any.whl" not in dists(dest)  # newest 1 of each dependency


def test_an_edited_requirements_file_replans_exactly_what_changed(
        pypi: FakePyPI, tmp_path: Path) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("eta\nzeta==1.0\n")
    dest = tmp_path / "m"
    args = ("--requirements", str(reqs), *LINUX_311)
    assert mirror(pypi, dest, *args).code == 0
    assert dists(dest) == {"eta-1.0-py3-none-any.whl", "zeta-1.0-py3-none-any.whl"}
    pypi.up.clear_log()
    assert mirror(pypi, dest, *args).json["downloaded"] == 0
    assert [r.path for r in pypi.up.log] == ["/simple/"]
    # the same file (same path, same options) says something else: upstream unchanged,
    # the new project is the only page asked for, its files the only ones fetched
    reqs.write_text("eta\ngamma\n")
    pypi.up.clear_log()
    res = mirror(pypi, dest, *args)
    assert res.code == 0, res.stderr
    assert pypi.page_requests() == ["/simple/gamma/"]
    assert sorted(pypi.file_requests()) == ["/files/gamma/gamma-1.0-py3-none-any.whl",
                                            "/files/gamma/gamma-1.0-py3-none-any.whl.metadata"]
    assert dists(dest) == {"eta-1.0-py3-none-any.whl", "gamma-1.0-py3-none-any.whl"}
    assert res.json["downloaded"] == 2
    assert res.json["removed"] == 4  # zeta's wheel (it has no .metadata) and its 3 pages
    root = (dest / "simple/index.html").read_text()
    assert 'href="gamma/"' in root and "zeta" not in root


@pytest.mark.parametrize("damage", ["replaced", "torn"])
def test_damaged_project_cache_costs_requests_not_the_run(
        pypi: FakePyPI, tmp_path: Path, damage: str) -> None:
    dest = tmp_path / "m"
    args = ("--package", "alpha", "--with-deps", *LINUX_311)
    assert mirror(pypi, dest, *args).code == 0
    db = saved_state(dest, "projects.sqlite3")
    data = db.read_bytes()
    db.chmod(0o644)
    if damage == "replaced":  # not a database at all
        db.write_bytes(b"not a database" * 100)
    else:  # the header intact, the pages after it overwritten (a crash tore it)
        db.write_bytes(data[:4096] + b"\xff" * (len(data) - 4096))
    pypi.add("eta", build_wheel("eta", "1.1"))  # the serial moves: no replay of the plan
    pypi.up.clear_log()
    res = mirror(pypi, dest, *args)
    assert res.code == 0, res.stderr
    # every project's page is asked for again, and the mirror is updated as usual
    assert sorted(pypi.page_requests()) == [
        "/simple/alpha/", "/simple/beta/", "/simple/eta/", "/simple/zeta/"]
    assert "eta-1.1-py3-none-any.whl" in dists(dest)
    # the cache was made anew: the next change costs that project's page only
    pypi.add("eta", build_wheel("eta", "1.2"))
    pypi.up.clear_log()
    assert mirror(pypi, dest, *args).code == 0
    assert pypi.page_requests() == ["/simple/eta/"]


def test_noop_without_serials_uses_conditional_requests(tmp_path: Path) -> None:
    from tests.plugins.pypi.conftest import populate

    pypi = FakePyPI(serials=False, json_api=False).start()
    try:
        populate(pypi)
        dest = tmp_path / "m"
        args = ("--package", "alpha", "--with-deps", *LINUX_311)
        res = mirror(pypi, dest, *args)
        assert res.code == 0, res.stderr
        assert "beta-1.5-py3-none-any.whl" in dists(dest)  # from PEP 503 HTML pages
        assert "data-core-metadata=\"sha256=" in (dest / "simple/beta/index.html").read_text()
        pypi.up.clear_log()
        res = mirror(pypi, dest, *args)
        assert res.code == 0, res.stderr
        assert res.json["downloaded"] == 0
        assert pypi.file_requests() == []
        pages = [r for r in pypi.up.log if r.path != "/simple/"]
        assert pages and all(r.headers.get("If-None-Match") for r in pages)
    finally:
        pypi.up.stop()


def test_update_prunes_files_gone_upstream(pypi: FakePyPI, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(pypi, dest, "--package", "beta").code == 0
    old = next(p for p in files(dest) if p.endswith("beta-1.0-py3-none-any.whl"))
    pypi.remove("beta", "beta-1.0-py3-none-any.whl")
    pypi.add("beta", build_wheel("beta", "3.0"))
    res = mirror(pypi, dest, "--package", "beta")
    assert res.code == 0, res.stderr
    assert res.json["removed"] == 2  # the wheel and its .metadata file
    assert not (dest / old).exists() and not (dest / (old + ".metadata")).exists()
    assert "beta-3.0-py3-none-any.whl" in dists(dest)
    html = (dest / "simple/beta/index.html").read_text()
    assert "beta-3.0" in html and "beta-1.0" not in html


def test_failed_file_keeps_the_previous_pages(pypi: FakePyPI, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(pypi, dest, "--package", "beta").code == 0
    pages = {p: (dest / p).read_bytes() for p in files(dest) if p.startswith("simple/")}
    new = build_wheel("beta", "3.0")
    pypi.add("beta", new)
    pypi.up.fault(pypi.file_path("beta", new.filename), "corrupt", times=10)
    res = mirror(pypi, dest, "--package", "beta")
    assert res.code == 1
    assert "beta-3.0-py3-none-any.whl" in res.stderr and "mismatch" in res.stderr
    assert {p: (dest / p).read_bytes() for p in files(dest) if p.startswith("simple/")} \
        == pages
    assert new.filename not in dists(dest)
    # once upstream serves it correctly the next run completes the update
    pypi.up.faults.clear()
    res = mirror(pypi, dest, "--package", "beta")
    assert res.code == 0, res.stderr
    assert "beta-3.0" in (dest / "simple/beta/index.html").read_text()


def test_verify_catches_a_corrupted_wheel(pypi: FakePyPI, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(pypi, dest, "--package", "eta").code == 0
    wheel = next(p for p in files(dest) if p.endswith(".whl"))
    assert run_cli("verify", dest).code == 0
    data = bytearray((dest / wheel).read_bytes())
    data[10] ^= 0xFF
    (dest / wheel).write_bytes(bytes(data))
    res = run_cli("verify", dest)
    assert res.code == 1
    assert wheel in res.stdout + res.stderr


def test_toml_config_and_requirements_file(pypi: FakePyPI, tmp_path: Path) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("# pinned\neta==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
                    "-r more.txt\n")
    (tmp_path / "more.txt").write_text("zeta>=1.0  # from the wheel\n")
    config = tmp_path / "mirrors.toml"
    config.write_text(f"""
[[mirrors]]
name = "python"
registry = "pypi"
dest = "{tmp_path / 'm'}"
index_url = "{pypi.index_url}"
requirements = ["{reqs}"]
python_versions = ["3.11"]
""")
    res = run_cli("run", "--config", config, "--json")
    assert res.code == 0, res.stderr
    assert dists(tmp_path / "m") == {"eta-1.0-py3-none-any.whl", "zeta-1.0-py3-none-any.whl"}


def test_bad_input_is_one_line_and_leaves_the_mirror(pypi: FakePyPI, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(pypi, dest, "--package", "eta").code == 0
    before = {p: (dest / p).read_bytes() for p in files(dest)}
    res = mirror(pypi, dest, "--package", "eta>>1")
    assert res.code == 2
    assert "--package" in res.stderr and "eta>>1" in res.stderr
    res = mirror(pypi, dest, "--package", "eta", "--package", "no-such-project")
    assert res.code == 1
    assert "no-such-project" in res.stderr and "404" in res.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("eta\n-e ./local\n")
    res = mirror(pypi, dest, "--requirements", str(bad))
    assert res.code == 2 and f"{bad}:2" in res.stderr
    assert {p: (dest / p).read_bytes() for p in files(dest)} == before


def test_dry_run_resolves_the_closure_and_writes_nothing(pypi: FakePyPI,
                                                         tmp_path: Path) -> None:
    dest = tmp_path / "m"
    res = mirror(pypi, dest, "--package", "alpha==2.0", "--with-deps", "--no-sdist",
                 "--dry-run", *LINUX_311)
    assert res.code == 0, res.stderr
    # alpha, beta and eta: wheel and .metadata; zeta: the wheel; 4 projects x 3 pages + root
    assert res.json["files"] == 7 + 4 * 3 + 3
    # the distributions and .metadata files would be downloaded, the pages generated
    assert res.json["downloaded"] == 7 and res.json["copied"] == 4 * 3 + 3
    assert len(res.json["changes"]) == 7 + 4 * 3 + 3
    assert "cannot read" not in res.stderr
    assert files(dest) == set()
