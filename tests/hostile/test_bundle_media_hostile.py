"""Hostile transfer media: parts and TOCs that are not what their names say.

A part that is a FIFO or a link to ``/dev/zero`` (its TOC says 0 bytes) used to hang
``import`` and ``import --check`` forever; a TOC given as a link to ``/dev/zero`` was read
until memory ran out; a GNU sparse member passed as a regular file, so a 10 KiB bundle could
write its whole apparent size. Each is refused here within a second, with one line naming
the file, the mirror byte for byte as before and nothing beside it touched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import zstandard

from mirrorkit.core.bundle.toc import FileInfo, PartInfo, Toc, tree_digest
from tests.hostile.harness import Outcome, Sentinel, assert_clear_error, invoke, snapshot
from tests.sinks.bundle.bundle_helpers import make_mirror

SNAP_OLD = "20260101T000000Z-aaaaaa"
SNAP = "20260108T000000Z-bbbbbb"
NAME = f"demo-{SNAP}-full"
PART = f"{NAME}.tar.0000"


def _write_toc(out: Path, parts: list[tuple[str, bytes]], files: dict[str, bytes | int],
               compression: str = "none", name: str = NAME) -> Path:
    """A TOC for ``parts`` (name, bytes) listing ``files`` (path -> content, or a size)."""
    infos = []
    for path, body in files.items():
        if isinstance(body, int):
            size, sha = body, hashlib.sha256(b"\0" * body).hexdigest()
        else:
            size, sha = len(body), hashlib.sha256(body).hexdigest()
        infos.append(FileInfo(path=path, size=size, sha256=sha))
    infos.sort(key=lambda f: f.path)
    size = sum(len(raw) for _, raw in parts)
    toc = Toc(name=name, mirror="demo", snapshot=SNAP, created="2026-01-08T00:00:00+00:00",
              compression=compression,  # type: ignore[arg-type]
              part_size=max([len(raw) for _, raw in parts] + [1]), size=size,
              parts=[PartInfo(name=n, size=len(raw), sha256=hashlib.sha256(raw).hexdigest())
                     for n, raw in parts],
              files=infos, tree_files=len(infos),
              tree_sha256=tree_digest((f.path, f.size, f.sha256) for f in infos))
    out.mkdir(parents=True, exist_ok=True)
    path = out / toc.toc_name
    path.write_bytes(toc.dumps())
    return path


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, Path, Sentinel]:
    """An existing mirror (DEST) with a sentinel beside it, and a media directory apart
    (the sentinel reads every file it covers, which a FIFO on the media would block)."""
    world = tmp_path / "world"
    dest = world / "mirror"
    make_mirror(dest, {"keep/me.txt": b"old\n"}, snapshot=SNAP_OLD)
    media = tmp_path / "media"
    media.mkdir()
    return dest, media, Sentinel(world, dest)


def _timed(*args: str | Path) -> tuple[Outcome, float]:
    """The command and its duration, plugins already loaded (their import is not timed)."""
    invoke("import", "--help")
    start = time.monotonic()
    out = invoke(*args)
    return out, time.monotonic() - start


def _assert_unchanged(dest: Path, before: dict[str, str], sentinel: Sentinel) -> None:
    assert snapshot(dest) == before
    assert not list((dest / ".mirrorkit").glob("tmp/*"))
    sentinel.assert_untouched()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero-link", "regular-file-link"])
def test_a_part_that_is_not_a_regular_file_is_refused_at_once(
        scene: tuple[Path, Path, Sentinel], kind: str) -> None:
    dest, media, sentinel = scene
    _write_toc(media, [(PART, b"")], {})  # the TOC says the one part is 0 bytes
    part = media / PART
    if kind == "fifo":
        os.mkfifo(part)
    elif kind == "dev-zero-link":
        part.symlink_to("/dev/zero")
    else:
        (media / "elsewhere").write_bytes(b"")
        part.symlink_to(media / "elsewhere")
    before = snapshot(dest)
    what = {"fifo": "a FIFO", "dev-zero-link": "a symbolic link",
            "regular-file-link": "a symbolic link"}[kind]
    for args in (("import", "--check", media), ("import", media, "--into", dest),
                 ("import", media / f"{NAME}.toc.json", "--into", dest)):
        out, took = _timed(*args)
        assert_clear_error(out, 1, PART, what)
        assert took < 1.0, (args, took)
        _assert_unchanged(dest, before, sentinel)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["dev-zero-link", "fifo"])
def test_a_toc_that_is_not_a_regular_file_is_refused(scene: tuple[Path, Path, Sentinel],
                                                     kind: str) -> None:
    dest, media, sentinel = scene
    toc = media / f"{NAME}.toc.json"
    if kind == "fifo":
        os.mkfifo(toc)
    else:
        toc.symlink_to("/dev/zero")
    before = snapshot(dest)
    for args in (("import", toc, "--into", dest), ("import", "--check", toc),
                 ("import", "--check", media), ("bundles", media)):
        out, took = _timed(*args)
        assert_clear_error(out, 1, f"{NAME}.toc.json")
        assert "MemoryError" not in out.stderr
        assert took < 1.0, (args, took)
        _assert_unchanged(dest, before, sentinel)


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path, body in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def test_a_toc_past_its_size_cap_is_refused(scene: tuple[Path, Path, Sentinel]) -> None:
    dest, media, sentinel = scene
    raw = _tar({"a.txt": b"a\n"})
    (media / PART).write_bytes(raw)
    toc = _write_toc(media, [(PART, raw)], {"a.txt": b"a\n"})
    # padding (valid JSON whitespace) past a cap of 64 KiB
    toc.write_bytes(toc.read_bytes().rstrip() + b" " * 70_000 + b"\n")
    before = snapshot(dest)
    for args in (("bundles", media), ("import", "--check", media),
                 ("import", toc, "--into", dest)):
        out = invoke(*args[:1], "--max-toc-size", "64KiB", *args[1:])
        assert_clear_error(out, 1, f"{NAME}.toc.json", "larger than 65536 bytes")
        _assert_unchanged(dest, before, sentinel)
    # under the default cap (64 MiB plus the parts) the same TOC is fine
    assert invoke("import", toc, "--into", dest).code == 0
    assert (dest / "a.txt").read_bytes() == b"a\n"


def _sparse_tar(tmp: Path, fmt: str, apparent: int) -> bytes:
    """A GNU tar (``--sparse``) of one file of ``apparent`` bytes that holds 4 KiB of data."""
    src = tmp / "sparse-src"
    src.mkdir()
    with open(src / "big.bin", "wb") as fh:
        fh.truncate(apparent)
    out = tmp / "sparse.tar"
    subprocess.run(["tar", "--sparse", f"--format={fmt}", "-cf", str(out), "-C", str(src),
                    "big.bin"], check=True)
    data = out.read_bytes()
    out.unlink()
    shutil.rmtree(src)
    return data


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar writes the sparse members")
@pytest.mark.parametrize("fmt", ["gnu", "pax"])
@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_a_sparse_member_is_refused_and_nothing_is_written(
        scene: tuple[Path, Path, Sentinel], tmp_path: Path, fmt: str, compression: str) -> None:
    dest, media, sentinel = scene
    apparent = 256 * 1024 * 1024
    raw = _sparse_tar(tmp_path, fmt, apparent)
    assert len(raw) < 64 * 1024  # a small bundle ...
    part = PART
    if compression == "zstd":
        raw = zstandard.ZstdCompressor().compress(raw)
        part = f"{NAME}.tar.zst.0000"
    (media / part).write_bytes(raw)
    # ... whose TOC agrees with its tar: one file of the apparent size (all zeros)
    _write_toc(media, [(part, raw)], {"big.bin": apparent}, compression=compression)
    before = snapshot(dest)
    out = invoke("import", media, "--into", dest)
    if compression == "none":  # refused from the TOC alone: the file cannot fit in the tar
        assert_clear_error(out, 1, "cannot fit")
    else:  # refused at the member, before a byte of it is staged
        assert_clear_error(out, 1, "big.bin", "sparse")
    _assert_unchanged(dest, before, sentinel)


def test_a_fifo_member_is_refused(scene: tuple[Path, Path, Sentinel]) -> None:
    dest, media, sentinel = scene
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("pipe")
        info.type = tarfile.FIFOTYPE
        tf.addfile(info)
    raw = buf.getvalue()
    (media / PART).write_bytes(raw)
    _write_toc(media, [(PART, raw)], {"pipe": b""})
    before = snapshot(dest)
    out = invoke("import", media, "--into", dest)
    assert_clear_error(out, 1, "'pipe'", "FIFO")
    _assert_unchanged(dest, before, sentinel)


def test_files_larger_than_the_free_space_are_refused_before_writing(
        scene: tuple[Path, Path, Sentinel]) -> None:
    """A compressed bundle can expand past any disk; a wrong checksum must not fill it."""
    dest, media, sentinel = scene
    too_big = shutil.disk_usage(dest).total + 1  # more than the whole disk, whatever is free
    body_size = 8 * 1024 * 1024
    raw = zstandard.ZstdCompressor().compress(_tar({"zeros.bin": b"\0" * body_size}))
    part = f"{NAME}.tar.zst.0000"
    (media / part).write_bytes(raw)
    toc = _write_toc(media, [(part, raw)], {"zeros.bin": b"\0" * body_size}, compression="zstd")
    # the TOC claims more than the disk holds (and a checksum the data will not match)
    data = json.loads(toc.read_bytes())
    data["files"][0]["size"] = too_big
    data["files"][0]["sha256"] = "0" * 64
    data["tree_sha256"] = tree_digest([("zeros.bin", too_big, "0" * 64)])
    toc.write_text(json.dumps(data))
    before = snapshot(dest)
    out = invoke("import", media, "--into", dest)
    assert_clear_error(out, 1, "needs", "free")
    _assert_unchanged(dest, before, sentinel)


def test_listing_and_checking_a_large_toc_stays_streaming(tmp_path: Path) -> None:
    """A 20,000-file TOC lists and checks (docs/benchmarks.md has the 10^6-file figures)."""
    media = tmp_path / "media"
    count = 20_000
    files = {f"f/{i:06d}": b"" for i in range(count)}
    raw = _tar({})  # the files' data is not needed to list or check the TOC
    raw += b"\0" * (count * 512)
    (media).mkdir()
    (media / PART).write_bytes(raw)
    _write_toc(media, [(PART, raw)], files)
    out = invoke("bundles", media, "--json")
    assert out.code == 0, out.stderr
    assert json.loads(out.stdout)["bundles"][0]["files"] == count
    out = invoke("import", "--check", media)
    assert out.code == 0, out.stderr
    assert "1 parts" in out.stderr
