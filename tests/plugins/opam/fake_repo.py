"""A real opam repository for tests: opam files written here, archives served by a loopback
"origin" host, indexed and cached by opam's own ``opam admin index`` and ``opam admin cache``,
and published by a second loopback host as opam.ocaml.org publishes its repository."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.upstream import Upstream

ORIGIN = "origin"  # Pkg.src: an archive of its own on the origin host
WHEN = 1_760_000_000.0


@dataclass(frozen=True)
class Pkg:
    name: str
    version: str
    #: hash algorithms of the url's checksum, in the order the opam file lists them
    checksums: tuple[str, ...] = ("sha256",)
    depends: str = ""  # what goes between the brackets of depends: [ ... ]
    depopts: str = ""
    #: ORIGIN, a URL as written (git+https://...), or None for a package without url
    src: str | None = ORIGIN
    archive_of: str | None = None  # NAME.VERSION whose archive this one shares
    extra_source: bool = False  # plus an extra-source "extra.patch" { ... }
    extra_files: bool = False  # plus files/fix.patch listed in extra-files
    only_at_mirror: bool = False  # src answers 404; the archive is at its mirrors: URL
    gone_from_origin: bool = False  # removed from the origin once upstream cached it
    cached_upstream: bool = True  # False: not in upstream's cache/

    @property
    def label(self) -> str:
        return f"{self.name}.{self.version}"

    @property
    def archive_name(self) -> str:
        return f"{self.archive_of or self.label}.tar.gz"


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A deterministic .tar.gz of ``files`` (the same bytes every time)."""
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def archive_bytes(label: str) -> bytes:
    return tar_gz({f"{label}/README": f"the sources of {label}\n".encode(),
                   f"{label}/VERSION": label.encode() + b"\n"})


EXTRA_PATCH = b"--- a/README\n+++ b/README\n@@ -1 +1 @@\n-old\n+new\n"
FIX_PATCH = b"# a patch shipped inside the repository\n"


def checksum_list(data: bytes, algos: tuple[str, ...]) -> str:
    return " ".join(f'"{a}={hashlib.new(a, data).hexdigest()}"' for a in algos)


def cache_paths(data: bytes, algos: tuple[str, ...]) -> list[str]:
    out = []
    for a in algos:
        h = hashlib.new(a, data).hexdigest()
        out.append(f"cache/{a}/{h[:2]}/{h}")
    return out


class OpamRepo:
    """The repository directory, the origin host and the repository host."""

    def __init__(self, root: Path, origin: Upstream, host: Upstream) -> None:
        self.root = root
        self.origin = origin
        self.host = host
        self.packages: dict[str, Pkg] = {}
        (root / "packages").mkdir(parents=True, exist_ok=True)
        (root / "repo").write_text('opam-version: "2.0"\n')

    @property
    def url(self) -> str:
        return f"{self.host.url}/repo"

    # ------------------------------------------------------------------ content
    def archive(self, pkg: Pkg) -> bytes:
        return archive_bytes(pkg.archive_of or pkg.label)

    def opam_text(self, pkg: Pkg) -> str:
        lines = ['opam-version: "2.0"', f'synopsis: "The {pkg.name} package"',
                 'maintainer: "tests@example.org"', 'license: "MIT"']
        if pkg.depends:
            lines.append(f"depends: [ {pkg.depends} ]")
        if pkg.depopts:
            lines.append(f"depopts: [ {pkg.depopts} ]")
        if pkg.src is not None:
            data = self.archive(pkg)
            src = pkg.src
            if src == ORIGIN:
                missing = "missing-" if pkg.only_at_mirror else ""
                src = f"{self.origin.url}/src/{missing}{pkg.archive_name}"
            lines.append("url {")
            lines.append(f'  src: "{src}"')
            if pkg.checksums and pkg.src == ORIGIN:
                lines.append(f"  checksum: [ {checksum_list(data, pkg.checksums)} ]")
            if pkg.only_at_mirror:
                lines.append(f'  mirrors: [ "{self.origin.url}/mirror/{pkg.archive_name}" ]')
            lines.append("}")
        if pkg.extra_source:
            lines += ['extra-source "extra.patch" {',
                      f'  src: "{self.origin.url}/src/{pkg.label}-extra.patch"',
                      f"  checksum: [ {checksum_list(EXTRA_PATCH, ('sha256', 'md5'))} ]", "}"]
        if pkg.extra_files:
            lines.append(f'extra-files: [ [ "fix.patch" "md5='
                         f'{hashlib.md5(FIX_PATCH).hexdigest()}" ] ]')
        return "\n".join(lines) + "\n"

    def cache_files(self, pkg: Pkg) -> list[str]:
        """Every cache path a client may ask for this package's sources."""
        out = []
        if pkg.src == ORIGIN and pkg.checksums:
            out += cache_paths(self.archive(pkg), pkg.checksums)
        if pkg.extra_source:
            out += cache_paths(EXTRA_PATCH, ("sha256", "md5"))
        return out

    # ------------------------------------------------------------------ changes
    def add(self, *pkgs: Pkg) -> None:
        for pkg in pkgs:
            self.packages[pkg.label] = pkg
            d = self.root / "packages" / pkg.name / pkg.label
            d.mkdir(parents=True, exist_ok=True)
            (d / "opam").write_text(self.opam_text(pkg))
            if pkg.extra_files:
                (d / "files").mkdir(exist_ok=True)
                (d / "files" / "fix.patch").write_bytes(FIX_PATCH)
            if pkg.src == ORIGIN:
                where = "mirror" if pkg.only_at_mirror else "src"
                self.origin.add(f"/{where}/{pkg.archive_name}", self.archive(pkg))
            if pkg.extra_source:
                self.origin.add(f"/src/{pkg.label}-extra.patch", EXTRA_PATCH)

    def remove(self, label: str) -> None:
        pkg = self.packages.pop(label)
        shutil.rmtree(self.root / "packages" / pkg.name / label)
        if not any(p.name == pkg.name for p in self.packages.values()):
            (self.root / "packages" / pkg.name).rmdir()

    def publish(self) -> None:
        """``opam admin cache`` then ``opam admin index``, and serve the result."""
        env = {**os.environ, "OPAMROOT": str(self.root.parent / "admin-root"),
               "OPAMYES": "1", "OPAMCOLOR": "never", "OPAMSTATUSLINE": "never",
               "NO_PROXY": "127.0.0.1,localhost"}
        for cmd in (["opam", "admin", "cache"], ["opam", "admin", "index"]):
            done = subprocess.run(cmd, cwd=self.root, env=env, capture_output=True,
                                  text=True, check=False, timeout=120)
            if cmd[-1] == "index" and done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)}: {done.stdout}{done.stderr}")
        for pkg in self.packages.values():
            if not pkg.cached_upstream:
                for rel in self.cache_files(pkg)[:1]:
                    (self.root / rel).unlink(missing_ok=True)
            if pkg.gone_from_origin:
                self.origin.remove(f"/src/{pkg.archive_name}")
        self.serve()

    def serve(self) -> None:
        for served in list(self.host.files):
            if served.startswith("/repo/"):
                self.host.remove(served)
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and (rel in ("index.tar.gz", "repo", "urls.txt")
                                   or rel.startswith("cache/")):
                self.host.add(f"/repo/{rel}", path.read_bytes(), last_modified=WHEN)
