"""The index read from its tar headers and written back member for member; archives as
cache files, grouped by the checksums listed together."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
from pathlib import Path

import pytest

from mirrorkit.api import Digest
from mirrorkit.plugins.opam import index as index_module
from mirrorkit.plugins.opam.archives import ArchivePlan
from mirrorkit.plugins.opam.index import IndexFormatError, decompress, read_index, write_index
from mirrorkit.plugins.opam.opamfile import Checksum, Source
from mirrorkit.plugins.opam.tarindex import members

LONG = "packages/" + "a-very-long-package-name" * 4 + "/x." + "1" * 40


def tar_bytes(fmt: int, files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for name, data in files.items():
            if name.endswith("/"):
                info = tarfile.TarInfo(name.rstrip("/"))
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
                tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


FILES = {"packages/": b"", "packages/foo/": b"", "packages/foo/foo.1.0/": b"",
         "packages/foo/foo.1.0/opam": b'opam-version: "2.0"\n',
         "packages/foo/foo.2.0/opam": b'opam-version: "2.0"\n# two\n',
         "packages/foo/foo.2.0/files/p.patch": b"patch\n",
         f"{LONG}/opam": b'opam-version: "2.0"\n# long\n',
         "packages/flat.3.0/opam": b'opam-version: "2.0"\n# flat\n',
         "packages/foo/notes.txt": b"not a package\n",
         "repo": b'opam-version: "2.0"\n'}


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_members_are_read_as_tarfile_reads_them(fmt: int) -> None:
    files = dict(FILES)
    if fmt == tarfile.USTAR_FORMAT:  # ustar holds 255 characters in its name and prefix
        files = {k: v for k, v in files.items() if not k.startswith(LONG)}
        files["packages/" + "p" * 90 + "/" + "q" * 60 + "/opam"] = b"ustar prefix\n"
    raw = tar_bytes(fmt, files)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        expected = [(m.name, m.mode, tar.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                    for m in tar.getmembers()]
    assert [(m.name, m.mode, bytes(m.data)) for m in members(raw)] == expected


def test_the_catalog_finds_package_directories_at_any_depth() -> None:
    catalog = read_index(decompress(gzip.compress(tar_bytes(tarfile.GNU_FORMAT, FILES))))
    assert {vd.label: vd.path for vd in catalog.versions} == {
        "foo.1.0": "packages/foo/foo.1.0", "foo.2.0": "packages/foo/foo.2.0",
        f"x.{'1' * 40}": LONG, "flat.3.0": "packages/flat.3.0"}
    assert catalog.repo == b'opam-version: "2.0"\n'


def test_a_selective_index_copies_upstream_members_byte_for_byte(tmp_path: Path) -> None:
    raw = tar_bytes(tarfile.GNU_FORMAT, FILES)
    target = tmp_path / "index.tar.gz"
    write_index(raw, {"packages/foo/foo.2.0", LONG}, target)
    out = gzip.decompress(target.read_bytes())
    assert len(out) % (20 * 512) == 0  # whole records, as GNU tar writes them
    kept = [m.name for m in members(out)]
    assert kept == ["packages", "packages/foo", "packages/foo/foo.2.0/opam",
                    "packages/foo/foo.2.0/files/p.patch", f"{LONG}/opam", "repo"]
    for member in members(out):  # each member's records are upstream's, unchanged
        original = next(m for m in members(raw) if m.name == member.name)
        assert out[member.start:member.end] == raw[original.start:original.end]
    first = target.read_bytes()
    write_index(raw, [LONG, "packages/foo/foo.2.0"], target)
    assert target.read_bytes() == first  # the same selection, the same bytes


def test_what_is_not_an_index_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(IndexFormatError, match="not a gzip file"):
        decompress(b"<html>Service unavailable</html>")
    with pytest.raises(IndexFormatError, match="truncated gzip data"):
        decompress(gzip.compress(random.Random(1).randbytes(100_000))[:5000])
    with pytest.raises(IndexFormatError, match="not a tar archive"):
        read_index(decompress(gzip.compress(b"not a tar file at all" * 100)))
    monkeypatch.setattr(index_module, "MAX_UNCOMPRESSED", 1 << 20)
    with pytest.raises(IndexFormatError, match="holds more than 1 MiB"):
        decompress(gzip.compress(bytes(2 << 20)))


def source(label: str, *checksums: str, src: str = "https://origin.example/a.tgz",
           mirrors: tuple[str, ...] = ()) -> Source:
    return Source(label, src, tuple(Checksum(*c.split("=")) for c in checksums), mirrors)


MD5 = "md5=" + "1" * 32
SHA256 = "sha256=" + "2" * 64
SHA512 = "sha512=" + "3" * 128


def test_checksums_listed_together_are_one_archive() -> None:
    plan = ArchivePlan("cache", ["https://up.example/cache"])
    plan.add("a.1", source("url", MD5, SHA256, src="https://origin.example/a.tgz",
                           mirrors=("https://mirror.example/a.tgz", "ftp://old.example/a")))
    plan.add("b.1", source("url", SHA512, SHA256, src="https://origin.example/b.tgz"))
    blob, *links = list(plan.artifacts())
    # one download, at the first-listed checksum's path, checked against all three
    assert blob.path == "cache/md5/11/" + "1" * 32
    assert blob.digest == Digest("sha256", "2" * 64)
    assert set(blob.also) == {Digest("md5", "1" * 32), Digest("sha512", "3" * 128)}
    assert [link.link_to for link in links] == [blob.path, blob.path]
    assert {link.path for link in links} == {"cache/sha256/22/" + "2" * 64,
                                             "cache/sha512/33/" + "3" * 128}
    # upstream's cache first (each path of the archive), then each src, then mirrors
    assert blob.urls == (
        "https://up.example/cache/md5/11/" + "1" * 32,
        "https://up.example/cache/sha256/22/" + "2" * 64,
        "https://up.example/cache/sha512/33/" + "3" * 128,
        "https://origin.example/a.tgz", "https://origin.example/b.tgz",
        "https://mirror.example/a.tgz")
    assert plan.archives == 1 and len(plan.paths) == 3


def test_what_the_mirror_cannot_hold_is_counted() -> None:
    plan = ArchivePlan("cache", [])
    plan.add("git.1", source("url", SHA256, src="git+https://example.org/x.git"))
    plan.add("local.1", source("url", SHA256, src="file:///home/me/x"))
    plan.add("nosum.1", source("url"))
    plan.add("ftp.1", source("url", MD5, src="ftp://example.org/x.tgz"))
    plan.add("x.1", source("url", "md5=" + "4" * 32, SHA256))
    plan.add("y.1", source("url", "md5=" + "5" * 32, SHA256))  # the same sha256, other md5
    assert list(plan.artifacts()) == []
    assert plan.skipped.counts() == {"no_checksum": 1, "vcs": 1, "other_scheme": 1,
                                     "no_url": 1, "conflicting": 2}
