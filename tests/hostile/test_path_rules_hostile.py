"""Path-set rules and a hostile destination: a bundle or a plan that names ``x`` and ``x/y``,
a delta deleting what its base does not hold, symlinked directories inside the mirror, and
an upstream that turns a file into a directory. Every case goes through the CLI; a refusal
leaves the mirror byte-identical (files and state) and nothing outside it touched.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

from mirrorkit.core.bundle.toc import FileInfo, PartInfo, Toc, tree_digest
from tests.hostile.harness import Sentinel, assert_clear_error, invoke
from tests.sinks.bundle.bundle_helpers import make_mirror, tree
from tests.support.cli import run_cli
from tests.support.static_list import publish, run_args
from tests.support.upstream import Upstream

S1 = "20260108T000000Z-aaaaaa"
S2 = "20260109T000000Z-bbbbbb"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def craft_bundle(out: Path, files: dict[str, bytes], *, snapshot: str = S2,
                 base: str | None = None, deleted: tuple[str, ...] = (),
                 tree_of: dict[str, bytes] | None = None) -> Path:
    """A bundle whose parts, tar and TOC agree (an attacker can always make one)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path, body in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(body)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(body))
    raw = buf.getvalue()
    name = f"demo-{snapshot}-{'delta' if base else 'full'}"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.tar.0000").write_bytes(raw)
    whole = tree_of if tree_of is not None else files
    toc = Toc(name=name, mirror="demo", snapshot=snapshot, base=base,
              created="2026-01-09T00:00:00+00:00", part_size=len(raw), size=len(raw),
              parts=[PartInfo(name=f"{name}.tar.0000", size=len(raw), sha256=sha(raw))],
              files=[FileInfo(path=p, size=len(b), sha256=sha(b)) for p, b in files.items()],
              deleted=list(deleted), tree_files=len(whole),
              tree_sha256=tree_digest((p, len(b), sha(b)) for p, b in whole.items()))
    toc_path = out / f"{name}.toc.json"
    toc_path.write_bytes(toc.dumps())
    return toc_path


# ------------------------------------------------------------------------ bundles
def test_bundle_naming_a_file_and_a_path_under_it_changes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    make_mirror(dest, {"a.txt": b"old a\n", "keep.bin": b"keep\n"}, snapshot=S1)
    before = tree(dest, with_state=True)
    toc = craft_bundle(tmp_path / "media", {"a.txt": b"new a\n", "x": b"a file\n",
                                            "x/y": b"under the file\n"})
    sentinel = Sentinel(tmp_path, dest)
    out = invoke("import", toc, "--into", dest)
    assert_clear_error(out, 1, "x is both a file and the directory of x/y")
    assert tree(dest, with_state=True) == before
    sentinel.assert_untouched()
    assert invoke("verify", dest).code == 0
    # and into an empty directory: nothing is created at all
    empty = tmp_path / "new-mirror"
    out = invoke("import", toc, "--into", empty)
    assert_clear_error(out, 1, "x is both a file and the directory of x/y")
    assert not empty.exists()


def test_delta_deleting_a_file_its_base_does_not_hold_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    make_mirror(dest, {"a.txt": b"a\n"}, snapshot=S1)
    (dest / "README.operator").write_bytes(b"the operator's notes\n")
    before = tree(dest, with_state=True)
    toc = craft_bundle(tmp_path / "media", {}, base=S1, deleted=("README.operator",),
                       tree_of={"a.txt": b"a\n"})
    sentinel = Sentinel(tmp_path, dest)
    out = invoke("import", toc, "--into", dest)
    assert_clear_error(out, 1, "README.operator", "not a file of its base snapshot")
    assert tree(dest, with_state=True) == before
    sentinel.assert_untouched()


def test_delta_deleting_through_a_symlinked_directory_touches_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    make_mirror(dest, {"a.txt": b"a\n", "sub/victim.txt": b"v\n"}, snapshot=S1)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_bytes(b"not the mirror's\n")
    (dest / "sub" / "victim.txt").unlink()
    (dest / "sub").rmdir()
    (dest / "sub").symlink_to(outside)
    before = tree(dest, with_state=True)
    toc = craft_bundle(tmp_path / "media", {"new.txt": b"n\n"}, base=S1,
                       deleted=("sub/victim.txt",),
                       tree_of={"a.txt": b"a\n", "new.txt": b"n\n"})
    sentinel = Sentinel(tmp_path, dest)
    out = invoke("import", toc, "--into", dest)
    assert_clear_error(out, 1, "symbolic link")
    assert (outside / "victim.txt").read_bytes() == b"not the mirror's\n"
    assert tree(dest, with_state=True) == before
    sentinel.assert_untouched()


# --------------------------------------------------------------------------- runs
def served(dest: Path) -> dict[str, str]:
    return tree(dest)


def state(dest: Path) -> bytes:
    return (dest / ".mirrorkit" / "manifest.json").read_bytes()


def test_plan_naming_a_file_and_a_path_under_it_changes_nothing(
    upstream: Upstream, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    publish(upstream, {"a.bin": b"a" * 100})
    assert run_cli(*run_args(upstream, dest)).code == 0
    before, manifest = served(dest), state(dest)
    sentinel = Sentinel(tmp_path, dest)
    publish(upstream, {"a.bin": b"a" * 100, "n.bin": b"new" * 50, "x": b"file",
                       "x/y": b"under"})
    res = run_cli(*run_args(upstream, dest))
    assert res.code == 1
    assert "Traceback" not in res.stderr
    assert "x is both a file and the directory of x/y" in res.stderr
    assert served(dest) == before and state(dest) == manifest
    sentinel.assert_untouched()
    assert run_cli("verify", dest).code == 0


def test_a_file_that_becomes_a_directory_and_back_completes_in_one_run(
    upstream: Upstream, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    for files in ({"x": b"x was a file", "a.bin": b"a"},
                  {"x/y": b"x is a directory now", "x/z/w": b"deeper", "a.bin": b"a"},
                  {"x": b"a file again", "a.bin": b"a"}):
        publish(upstream, files)
        res = run_cli(*run_args(upstream, dest))
        assert res.code == 0, res.stderr
        expected = {p: sha(b) for p, b in files.items()}
        got = {p: h for p, h in served(dest).items() if h != "dir" and p != "index.json"}
        assert got == expected
        assert run_cli("verify", dest).code == 0


def _symlinked_sub(dest: Path, outside: Path) -> None:
    """An operator (or an attacker) replaced the mirror's ``sub/`` with a link elsewhere."""
    outside.mkdir()
    (outside / "a.bin").write_bytes(b"the operator's own file")
    for child in (dest / "sub").iterdir():
        child.unlink()
    (dest / "sub").rmdir()
    (dest / "sub").symlink_to(outside)


def test_run_never_writes_or_prunes_through_a_symlinked_directory(
    upstream: Upstream, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    publish(upstream, {"sub/a.bin": b"v1" * 10, "b.bin": b"b"})
    assert run_cli(*run_args(upstream, dest)).code == 0
    outside = tmp_path / "outside"
    _symlinked_sub(dest, outside)
    before, manifest = served(dest), state(dest)
    sentinel = Sentinel(tmp_path, dest)

    publish(upstream, {"sub/a.bin": b"v2" * 10, "sub/new.bin": b"n", "b.bin": b"b",
                       "c.bin": b"c"})  # a write under the link
    res = run_cli(*run_args(upstream, dest))
    assert res.code == 1 and "symbolic link" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert served(dest) == before and state(dest) == manifest
    sentinel.assert_untouched()

    upstream.remove("/repo/files/sub/a.bin")
    publish(upstream, {"b.bin": b"b"})  # a prune under the link
    res = run_cli(*run_args(upstream, dest))
    assert res.code == 1 and "symbolic link" in res.stderr, res.stderr
    assert served(dest) == before and state(dest) == manifest
    sentinel.assert_untouched()


def test_verify_repair_never_deletes_through_a_symlinked_directory(
    upstream: Upstream, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    publish(upstream, {"sub/a.bin": b"v1" * 10})
    assert run_cli(*run_args(upstream, dest)).code == 0
    _symlinked_sub(dest, tmp_path / "outside")
    before, manifest = served(dest), state(dest)
    sentinel = Sentinel(tmp_path, dest)
    res = run_cli("verify", dest, "--repair")
    assert res.code == 1
    assert "repair refused" in res.stderr and "symbolic link" in res.stderr, res.stderr
    assert (tmp_path / "outside" / "a.bin").read_bytes() == b"the operator's own file"
    assert served(dest) == before and state(dest) == manifest
    sentinel.assert_untouched()
