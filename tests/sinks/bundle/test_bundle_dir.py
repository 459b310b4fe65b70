"""Bundles through a directory, end to end through the CLI, from a real static-list mirror."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bundle_helpers import make_mirror, mirror_run, only_toc, publish, random_files, tree

from mirrorkit.core.store.manifest import load_manifest
from tests.support.cli import run_cli
from tests.support.upstream import Upstream


def _files() -> dict[str, bytes]:
    files = random_files(12, 40_000)
    files["docs/readme.txt"] = b"hello\n"
    files["deep/" + "d" * 120 + "/long-name-needs-pax.bin"] = b"x" * 700
    return files


def test_full_then_delta_round_trip(upstream: Upstream, tmp_path: Path) -> None:
    src, out, inside = tmp_path / "src", tmp_path / "out", tmp_path / "inside"
    files = _files()
    publish(upstream, files)
    mirror_run(upstream, src)

    # full bundle (first export to this place), parts of at most 64 KiB
    r = run_cli("export", src, "--to", out, "--part-size", "64KiB")
    assert r.code == 0, r.stderr
    toc = only_toc(out)
    assert toc["base"] is None and toc["mirror"] == "static-list"
    assert len(toc["parts"]) > 3 and all(p["size"] <= 65536 for p in toc["parts"])
    assert {f["path"] for f in toc["files"]} == {*files, "index.json"}
    assert {f["kind"] for f in toc["files"] if f["path"] == "index.json"} == {"index"}

    # the standard tools extract it
    plain = tmp_path / "plain"
    plain.mkdir()
    subprocess.run(f"cat {out}/*.tar.* | tar -x -C {plain}", shell=True, check=True)
    assert tree(plain) == tree(src)

    r = run_cli("import", out, "--into", inside)
    assert r.code == 0, r.stderr
    assert tree(inside) == tree(src)
    assert (inside / "index.json").stat().st_mtime == (src / "index.json").stat().st_mtime
    assert run_cli("verify", inside).code == 0
    assert load_manifest(inside).snapshot == load_manifest(src).snapshot  # type: ignore[union-attr]

    # upstream changes: one file modified, one added, one removed
    first_toc = toc["name"]
    files["blobs/003.bin"] = b"changed" * 1000
    files["blobs/new.bin"] = b"new" * 500
    del files["blobs/007.bin"]
    publish(upstream, files)
    mirror_run(upstream, src)
    r = run_cli("export", src, "--to", out, "--part-size", "64KiB", "--json")
    assert r.code == 0, r.stderr
    delta = r.json
    assert delta["base"] == load_manifest(inside).snapshot  # type: ignore[union-attr]
    assert sorted(f["path"] for f in delta["files"]) == [
        "blobs/003.bin", "blobs/new.bin", "index.json"]
    assert delta["deleted"] == ["blobs/007.bin"]
    assert delta["size"] < 30_000  # only the changes travel (the full one is ~500 kB)

    listing = run_cli("bundles", out, "--json")
    assert listing.code == 0, listing.stderr
    assert listing.json["order"]["static-list"] == [first_toc, delta["name"]]
    text = run_cli("bundles", out, "--for", inside)
    assert f"import order for static-list into {inside}" in text.stdout
    assert delta["name"] in text.stdout

    # importing the directory applies what the mirror lacks: only the delta
    r = run_cli("import", out, "--into", inside)
    assert r.code == 0, r.stderr
    assert "delta since" in r.stderr and r.stderr.count("imported ") == 1
    assert tree(inside) == tree(src)
    assert run_cli("verify", inside).code == 0

    # nothing new: export says so, and import has nothing to do
    r = run_cli("export", src, "--to", out)
    assert r.code == 0 and "nothing to export" in r.stderr
    r = run_cli("import", out, "--into", inside)
    assert r.code == 0 and "nothing to import" in r.stderr


def test_empty_mirror_gets_full_then_deltas_in_one_import(tmp_path: Path) -> None:
    src, out, inside = tmp_path / "src", tmp_path / "out", tmp_path / "inside"
    files = random_files(4, 3000)
    make_mirror(src, files, snapshot="20260101T000000Z-aaaaaa")
    assert run_cli("export", src, "--to", out).code == 0
    files["blobs/001.bin"] = b"v2"
    make_mirror(src, files, snapshot="20260108T000000Z-bbbbbb")
    assert run_cli("export", src, "--to", out).code == 0
    del files["blobs/002.bin"]
    make_mirror(src, files, snapshot="20260115T000000Z-cccccc")
    assert run_cli("export", src, "--to", out).code == 0
    assert len(list(out.glob("*-delta.toc.json"))) == 2

    r = run_cli("import", out, "--into", inside)
    assert r.code == 0, r.stderr
    assert r.stderr.count("imported ") == 3
    assert tree(inside) == tree(src)
    assert load_manifest(inside).snapshot == "20260115T000000Z-cccccc"  # type: ignore[union-attr]


def test_zstd_bundle_round_trip_and_standard_tools(tmp_path: Path) -> None:
    src, out, inside = tmp_path / "src", tmp_path / "out", tmp_path / "inside"
    make_mirror(src, {"a.txt": b"a" * 100_000, "b/c.json": b"{}"},
                snapshot="20260101T000000Z-aaaaaa", index=("b/c.json",))
    r = run_cli("export", src, "--to", out, "--zstd", "--part-size", "1KiB")
    assert r.code == 0, r.stderr
    toc = only_toc(out)
    assert toc["compression"] == "zstd" and toc["parts"][0]["name"].endswith(".tar.zst.0000")
    assert toc["size"] < 10_000  # compressed
    plain = tmp_path / "plain"
    plain.mkdir()
    subprocess.run(f"cat {out}/*.tar.zst.* | zstd -dc | tar -x -C {plain}", shell=True,
                   check=True)
    assert tree(plain) == tree(src)
    assert run_cli("import", out, "--into", inside).code == 0
    assert tree(inside) == tree(src)


def test_export_errors_are_one_clear_line(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    files = random_files(2, 100)
    make_mirror(src, files, snapshot="20260101T000000Z-aaaaaa")
    r = run_cli("export", src, "--to", out, "--since", "20250101T000000Z-gone00")
    assert r.code == 1
    assert "base snapshot 20250101T000000Z-gone00" in r.stderr and "--full" in r.stderr
    r = run_cli("export", src, "--to", out, "--part-size", "lots")
    assert r.code == 2 and "--part-size" in r.stderr
    r = run_cli("export", tmp_path / "nothing-here", "--to", out)
    assert r.code == 2 and "no such directory" in r.stderr
    (src / "blobs/000.bin").write_bytes(b"short")
    r = run_cli("export", src, "--to", out)
    assert r.code == 1 and "blobs/000.bin" in r.stderr and "verify" in r.stderr
    assert not list(out.glob("*.tar.*"))  # no half bundle left behind


def test_bundle_sink_exports_after_a_run(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, random_files(3, 5000))
    out = tmp_path / "outgoing"
    config = tmp_path / "mirrors.toml"
    config.write_text(f"""
[[mirrors]]
name = "demo"
registry = "static-list"
dest = "mirror"
index_url = "{upstream.url}/repo/index.json"

[[mirrors.sinks]]
type = "bundle"
to = "{out}"
part_size = "8KiB"
""")
    r = run_cli("run", "--config", config)
    assert r.code == 0, r.stderr
    assert "sink 0:bundle: ok" in r.stderr
    toc = only_toc(out)
    assert toc["mirror"] == "demo" and toc["base"] is None
    inside = tmp_path / "inside"
    assert run_cli("import", out, "--into", inside).code == 0
    assert tree(inside) == tree(tmp_path / "mirror")
    r = run_cli("bundles", out)
    assert r.code == 0 and json.dumps(toc["name"])[1:-1] in r.stdout


def test_index_commit_order_travels_with_the_bundle(tmp_path: Path) -> None:
    """An index naming other index files (API documents naming manifests) must be applied
    after them on the inside too, so the order recorded by the registry crosses the gap."""
    src, out, inside = tmp_path / "src", tmp_path / "out", tmp_path / "inside"
    files = {"api/formula.json": b"{}", "manifests/a": b"m", "blobs/x": b"x"}
    manifest = make_mirror(src, files, snapshot="20260101T000000Z-aaaaaa",
                           index=("api/formula.json", "manifests/a"))
    manifest.files["api/formula.json"].order = 2
    manifest.save(src)
    assert run_cli("export", src, "--to", out).code == 0
    toc = only_toc(out)
    assert {f["path"]: f["order"] for f in toc["files"]}["api/formula.json"] == 2
    r = run_cli("import", out, "--into", inside)
    assert r.code == 0, r.stderr
    imported = load_manifest(inside)
    assert imported is not None
    assert imported.files["api/formula.json"].order == 2
    assert imported.files["manifests/a"].order == 0
    # applied in order: the higher-order index was renamed into place last
    assert (inside / "api/formula.json").stat().st_ctime_ns >= (
        inside / "manifests/a").stat().st_ctime_ns
