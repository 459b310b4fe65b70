"""Every refusal of ``mirrorkit import``: a clear message per problem, DEST exactly as it was."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import pytest
from bundle_helpers import make_mirror, only_toc, random_files, tree

from mirrorkit.core.bundle.toc import FileInfo, PartInfo, Toc, tree_digest
from tests.support.cli import run_cli

SNAP_A, SNAP_B = "20260101T000000Z-aaaaaa", "20260108T000000Z-bbbbbb"
OLDER = "20251201T000000Z-000000"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A full bundle of 6 files in several 4 KiB parts, in ``out``."""
    src, out = tmp_path / "src", tmp_path / "out"
    make_mirror(src, random_files(6, 2500), snapshot=SNAP_A)
    r = run_cli("export", src, "--to", out, "--part-size", "4KiB")
    assert r.code == 0, r.stderr
    assert len(only_toc(out)["parts"]) >= 4
    return out


def _parts(out: Path) -> list[Path]:
    return sorted(out.glob("*.tar.[0-9]*"))


def _existing_mirror(tmp_path: Path) -> Path:
    dest = tmp_path / "inside"
    make_mirror(dest, {"keep/me.txt": b"old"}, snapshot=OLDER)
    return dest


def _flip(part: Path) -> None:
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flipped", "missing", "truncated"])
@pytest.mark.parametrize("where", ["empty", "existing"])
def test_damaged_part_is_refused_and_dest_unchanged(bundle: Path, tmp_path: Path, damage: str,
                                                    where: str) -> None:
    part = _parts(bundle)[1]
    if damage == "flipped":
        _flip(part)
    elif damage == "missing":
        part.unlink()
    else:
        part.write_bytes(part.read_bytes()[:-100])
    dest = _existing_mirror(tmp_path) if where == "existing" else tmp_path / "new"
    before = tree(dest, with_state=True)
    r = run_cli("import", bundle, "--into", dest)
    assert r.code == 1
    expected = {"flipped": "corrupt: sha256", "missing": "missing part",
                "truncated": "truncated"}[damage]
    assert f"{part.name}: {expected}" in r.stderr
    assert "import refused" in r.stderr and (
        "unchanged" in r.stderr if where != "empty" else "was not created" in r.stderr)
    assert tree(dest, with_state=True) == before
    assert dest.exists() == (where == "existing")


def test_all_problems_are_reported_at_once(bundle: Path, tmp_path: Path) -> None:
    parts = _parts(bundle)
    _flip(parts[0])
    parts[2].unlink()
    parts[3].write_bytes(b"x")
    for args in (["import", bundle, "--into", tmp_path / "new"], ["import", "--check", bundle]):
        r = run_cli(*args)
        assert r.code == 1
        assert f"{parts[0].name}: corrupt" in r.stderr
        assert f"{parts[2].name}: missing part" in r.stderr
        assert f"{parts[3].name}: truncated" in r.stderr
    assert not (tmp_path / "new").exists()
    assert run_cli("import", "--check", bundle.parent / "src").code == 1  # no bundles there


def test_check_passes_on_a_good_bundle_from_read_only_media(bundle: Path, tmp_path: Path) -> None:
    for p in [*bundle.iterdir(), bundle]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        r = run_cli("import", "--check", bundle)
        assert r.code == 0 and "verified" in r.stderr
        toc = next(bundle.glob("*.toc.json"))
        r = run_cli("import", toc, "--into", tmp_path / "inside")
        assert r.code == 0, r.stderr
    finally:
        bundle.chmod(0o755)
    assert tree(tmp_path / "inside") == tree(tmp_path / "src")


def test_delta_whose_base_does_not_match_is_refused(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    files = random_files(3, 1000)
    make_mirror(src, files, snapshot=SNAP_A)
    assert run_cli("export", src, "--to", out / "a").code == 0
    files["blobs/000.bin"] = b"v2"
    make_mirror(src, files, snapshot=SNAP_B)
    r = run_cli("export", src, "--to", out / "b", "--since", SNAP_A)
    assert r.code == 0, r.stderr
    delta_toc = next((out / "b").glob("*-delta.toc.json"))

    # onto an empty directory
    r = run_cli("import", delta_toc, "--into", tmp_path / "empty")
    assert r.code == 1
    assert f"is a delta from snapshot {SNAP_A}, but" in r.stderr and "no snapshot" in r.stderr
    assert not (tmp_path / "empty").exists()

    # onto a mirror at another (older) snapshot
    other = tmp_path / "other"
    make_mirror(other, files, snapshot=OLDER)
    before = tree(other, with_state=True)
    r = run_cli("import", delta_toc, "--into", other)
    assert r.code == 1 and f"holds snapshot {OLDER}" in r.stderr
    assert tree(other, with_state=True) == before

    # a directory holding only the delta says what is missing
    r = run_cli("import", out / "b", "--into", other)
    assert r.code == 1 and "no bundle" in r.stderr and SNAP_A in r.stderr
    assert tree(other, with_state=True) == before

    # the right base applies
    right = tmp_path / "right"
    assert run_cli("import", out / "a", "--into", right).code == 0
    assert run_cli("import", delta_toc, "--into", right).code == 0
    assert tree(right) == tree(src)


# ------------------------------------------------------------------- crafted tars
def _member(tf: tarfile.TarFile, name: str, data: bytes = b"", **kw: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in kw.items():
        setattr(info, k, v)
    tf.addfile(info, io.BytesIO(data) if data else None)


def _crafted_bundle(out: Path, evil: list[tuple[str, dict[str, object], bytes]]) -> None:
    """A bundle whose TOC and parts are all consistent, but whose tar carries ``evil``."""
    good = b"good file\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        _member(tf, "good.txt", good)
        for name, kw, data in evil:
            _member(tf, name, data, **kw)
    raw = buf.getvalue()
    out.mkdir(parents=True)
    name = f"demo-{SNAP_B}-full"
    (out / f"{name}.tar.0000").write_bytes(raw)
    sha = hashlib.sha256(good).hexdigest()
    toc = Toc(name=name, mirror="demo", snapshot=SNAP_B, created="2026-01-08T00:00:00+00:00",
              part_size=len(raw), size=len(raw),
              parts=[PartInfo(name=f"{name}.tar.0000", size=len(raw),
                              sha256=hashlib.sha256(raw).hexdigest())],
              files=[FileInfo(path="good.txt", size=len(good), sha256=sha)],
              tree_files=1, tree_sha256=tree_digest([("good.txt", len(good), sha)]))
    (out / f"{name}.toc.json").write_bytes(toc.dumps())


@pytest.mark.parametrize(("evil", "message"), [
    ([("../escape.txt", {}, b"evil")], "contains '..'"),
    ([("a/../../escape.txt", {}, b"evil")], "contains '..'"),
    ([("/tmp/absolute.txt", {}, b"evil")], "is absolute"),
    ([("link", {"type": tarfile.SYMTYPE, "linkname": "../../outside"}, b""),
      ("link/escape.txt", {}, b"evil")], "a symlink to '../../outside'"),
    ([("hard", {"type": tarfile.LNKTYPE, "linkname": "/etc/passwd"}, b"")], "a hard link"),
    ([("dev", {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}, b"")], "device"),
    ([("good.txt", {}, b"good file\n")], "appears twice"),
    ([("extra.txt", {}, b"not in toc")], "not listed in the TOC"),
])
def test_crafted_tar_members_are_refused(tmp_path: Path, evil: list[tuple[str, dict[str, object],
                                                                         bytes]],
                                         message: str) -> None:
    out = tmp_path / "media" / "bundle"
    _crafted_bundle(out, evil)
    assert run_cli("import", "--check", out).code == 0  # the parts themselves are intact
    dest = tmp_path / "media" / "inside"
    make_mirror(dest, {"keep/me.txt": b"old"}, snapshot=SNAP_A)
    before = tree(tmp_path, with_state=True)
    r = run_cli("import", out, "--into", dest)
    assert r.code == 1, r.stderr
    assert message in r.stderr and "import refused" in r.stderr
    assert tree(tmp_path, with_state=True) == before  # nothing inside DEST or beside it
    assert not Path("/tmp/absolute.txt").exists()


def test_a_toc_with_an_unsafe_path_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "b"
    _crafted_bundle(out, [])
    toc = next(out.glob("*.toc.json"))
    toc.write_text(toc.read_text().replace('"good.txt"', '"../good.txt"'))
    r = run_cli("import", toc, "--into", tmp_path / "inside")
    assert r.code == 1 and "files.0.path" in r.stderr and "'..'" in r.stderr
    assert not (tmp_path / "inside").exists()
    shutil.rmtree(out)
