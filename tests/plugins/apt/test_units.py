"""The apt plugin's parsers: mirror.list, Release selection, control files, sizes."""

from __future__ import annotations

import io
import lzma
from pathlib import Path

import pytest

from mirrorkit.api import PlanError
from mirrorkit.plugins.apt.control import (
    iter_package_files,
    iter_stanzas,
    package_files,
    source_files,
)
from mirrorkit.plugins.apt.estimate import readable_size
from mirrorkit.plugins.apt.mirrorlist import parse_mirror_list
from mirrorkit.plugins.apt.release import Selection, parse_release, strip_clearsign
from mirrorkit.plugins.apt.sources import SuiteSpec, group_suites, split_credentials

LIST = """\
############# config ##################
set base_path    /var/spool/apt-mirror
set mirror_path  $base_path/mirror
set defaultarch  amd64
set nthreads     20
set _tilde 0
set auth_no_challenge 1
deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/u.gpg] http://archive.ubuntu.com/ubuntu \
jammy main universe
deb [ arch=i386 ] http://archive.ubuntu.com/ubuntu jammy-updates main
deb-src http://archive.ubuntu.com/ubuntu jammy main
deb https://bearer:s3cr3t@esm.ubuntu.com/infra/ubuntu/ jammy-infra-security main
deb-armhf http://ports.ubuntu.com/ubuntu-ports jammy main
clean http://archive.ubuntu.com/ubuntu
"""


def test_mirror_list_as_apt_mirror_reads_it() -> None:
    ml = parse_mirror_list(LIST)
    assert ml.mirror_path == Path("/var/spool/apt-mirror/mirror")
    first = ml.specs[0]
    assert first.arches == ["amd64", "arm64"]  # every architecture, not only the first
    assert first.components == ["main", "universe"]
    assert first.keyring == Path("/usr/share/keyrings/u.gpg")
    assert ml.specs[1].arches == ["i386"]
    assert ml.specs[2].source and not ml.specs[2].binary
    assert ml.specs[3].arches == ["amd64"]  # defaultarch
    assert ml.specs[4].arches == ["armhf"]  # the old deb-ARCH form
    assert ml.clean == {"http://archive.ubuntu.com/ubuntu/"}
    assert [i.split()[0] for i in ml.ignored] == ["nthreads", "_tilde", "auth_no_challenge"]


@pytest.mark.parametrize(("text", "message"), [
    ("deb http://h/x\n", "mirror.list:1: 'deb' needs a URL and a suite"),
    ("\nmirror http://h/x s main\n", "mirror.list:2: unknown line 'mirror'"),
    ("deb [arch=amd64 http://h/x s main\n", "mirror.list:1: '[' without ']'"),
    ("deb ftp://h/x s main\n", "ftp://h/x: not an http(s) URL"),
])
def test_mirror_list_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        parse_mirror_list(text)


def test_credentials_split_off_and_layout_drops_port() -> None:
    assert split_credentials("https://bearer:t%40k@esm.ubuntu.com:8443/infra/ubuntu") == (
        "https://esm.ubuntu.com:8443/infra/ubuntu/", "bearer", "t@k")
    suites = group_suites([SuiteSpec("https://bearer:tok@esm.ubuntu.com:8443/infra/ubuntu",
                                     "jammy", ["main"], ["amd64"])],
                          at_root=False, clean_urls=set(), keyring=None)
    repo = suites[0].repo
    assert repo.prefix == "esm.ubuntu.com/infra/ubuntu/"
    assert "tok" not in repo.url and repr(repo.auth()) == "BasicAuth('bearer', '***')"


def test_same_directory_from_two_ports_refused() -> None:
    specs = [SuiteSpec("http://h:1/debian", "s", ["main"], where="mirror.list:1"),
             SuiteSpec("http://h:2/debian/", "s", ["main"], where="mirror.list:2")]
    with pytest.raises(PlanError, match=r"mirror.list:2: .* would both be mirrored into h/debian/"):
        group_suites(specs, at_root=False, clean_urls=set(), keyring=None)


def test_lines_for_one_suite_merge() -> None:
    specs = [SuiteSpec("http://h/d", "s", ["main"], ["amd64"]),
             SuiteSpec("http://h/d/", "s", ["main", "contrib"], binary=False, source=True),
             SuiteSpec("http://h/d", "s", ["universe"], ["arm64"])]
    (suite,) = group_suites(specs, at_root=False, clean_urls={"http://h/d/"}, keyring=None)
    assert suite.binary_components == ["main", "universe"]
    assert suite.source_components == ["main", "contrib"]
    assert suite.arches == ["amd64", "arm64"] and suite.repo.clean


def test_selection() -> None:
    sel = Selection(["main"], ["main"], ["amd64"], contents=True)
    assert sel.wants("main/binary-amd64/Packages.xz")
    assert sel.wants("main/binary-all/Packages.xz")
    assert sel.wants("main/binary-amd64/Release")
    assert sel.wants("main/source/Sources.gz")
    assert sel.wants("main/Contents-amd64.gz") and sel.wants("Contents-amd64.gz")
    assert not sel.wants("main/binary-arm64/Packages.xz")
    assert not sel.wants("universe/binary-amd64/Packages.xz")
    assert not sel.wants("main/i18n/Translation-en.bz2")  # by flag only
    assert not sel.wants("main/debian-installer/binary-amd64/Packages.gz")  # by flag only
    assert not sel.wants("main/dep11/Components-amd64.yml.gz")
    udeb = Selection(["main"], [], ["amd64"], udeb=True, translations=True)
    assert udeb.wants("main/debian-installer/binary-amd64/Packages.gz")
    assert udeb.wants("main/i18n/Translation-en.bz2")
    assert not udeb.wants("main/source/Sources.gz")  # no deb-src line


def test_release_and_clearsign() -> None:
    signed = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n"
              "Origin: Test\nAcquire-By-Hash: yes\nComponents: main\nSHA256:\n"
              f" {'a' * 64} 10 main/binary-amd64/Packages\n"
              f" {'b' * 64}   7 main/binary-amd64/Packages.xz\n"
              "- -dash escaped\n"
              "-----BEGIN PGP SIGNATURE-----\n\nxx\n-----END PGP SIGNATURE-----\n")
    text = strip_clearsign(signed)
    assert text.endswith("-dash escaped\n") and "PGP" not in text
    rel = parse_release(text, "InRelease")
    assert rel.by_hash and rel.components == ["main"]
    assert [(f.name, f.size, f.compressed) for f in rel.files] == [
        ("main/binary-amd64/Packages", 10, False), ("main/binary-amd64/Packages.xz", 7, True)]
    with pytest.raises(PlanError, match="no SHA256 file list"):
        parse_release("Origin: x\nMD5Sum:\n abc 1 x\n", "Release")


def test_stanzas_stream_across_chunk_boundaries() -> None:
    stanza = (b"Package: p%d\nVersion: 1\nFilename: pool/p%d.deb\nSize: %d\nSHA256: "
              + b"c" * 64 + b"\nDescription: x\n more\n\n")
    data = b"".join(stanza % (i, i, i) for i in range(30000))
    with lzma.open(io.BytesIO(lzma.compress(data)), "rb") as stream:
        files = list(iter_package_files(stream, "Packages.xz"))
    assert len(files) == 30000  # stanzas cut by the 1 MiB chunks are read whole
    assert files[12345].path == "pool/p12345.deb" and files[12345].size == 12345
    by_stanza = [package_files(s, "Packages") for s in iter_stanzas(io.BytesIO(data))]
    assert by_stanza == files
    # no blank line at the end, blank lines in a row, CRLF line ends
    odd = b"Package: a\r\nFilename: a.deb\r\nSize: 1\r\nSHA256: " + b"A" * 64 + b"\r\n\r\n\n" + (
        b"Package: b\nFilename: b.deb\nSize: 2\nSHA256: " + b"b" * 64)
    assert [(f.path, f.size, f.sha256) for f in iter_package_files(io.BytesIO(odd), "P")] == [
        ("a.deb", 1, "a" * 64), ("b.deb", 2, "b" * 64)]


def test_package_and_source_fields() -> None:
    with pytest.raises(PlanError, match="Packages: package p has no SHA256 field"):
        package_files(b"Package: p\nFilename: f.deb\nSize: 1\n", "Packages")
    src = (b"Package: hello\nDirectory: pool/main/h/hello\nChecksums-Sha256:\n"
           + b" " + b"d" * 64 + b" 100 hello_1.0.dsc\n " + b"e" * 64 + b" 2000 hello_1.0.tar.xz\n"
           + b"Vcs-Git: x\n")
    assert [(f.path, f.size) for f in source_files(src, "Sources")] == [
        ("pool/main/h/hello/hello_1.0.dsc", 100), ("pool/main/h/hello/hello_1.0.tar.xz", 2000)]


def test_readable_size() -> None:
    assert readable_size(10_000_000_000) == "10.00 GB"
    assert readable_size(999) == "999 bytes"
    assert readable_size(1_500_000) == "1.50 MB"


def test_config_errors_never_quote_url_credentials() -> None:
    from pydantic import ValidationError

    from mirrorkit.core.config.model import format_validation_error
    from mirrorkit.plugins.apt.options import AptSource

    with pytest.raises(ValidationError) as info:
        AptSource.model_validate({"url": "https://bearer:tok3nvalue@esm.example/ubuntu/",
                                  "suite": "jammy", "components": ["main"],
                                  "binary": "https://bearer:tok3nvalue@esm.example/"})
    (line,) = format_validation_error(info.value, "sources[0]")
    assert line.startswith("sources[0].binary: ") and "tok3nvalue" not in line
    assert "https://***@esm.example/" in line
