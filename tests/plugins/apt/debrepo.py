"""Real apt repositories for tests, built with Debian's own tools.

gpg (a throwaway GNUPGHOME and key), dpkg-deb, dpkg-source, and reprepro or apt-ftparchive:
the bytes a mirror sees are the bytes Debian's tooling writes, signatures included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.upstream import Upstream

TOOLS = ("gpg", "gpgv", "dpkg-deb", "dpkg-source", "reprepro", "apt-ftparchive")


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class Key:
    home: Path
    fingerprint: str
    keyring: Path  # binary export, what signed-by= and --keyring take

    def env(self) -> dict[str, str]:
        return {**os.environ, "GNUPGHOME": str(self.home)}


def make_key(root: Path, name: str) -> Key:
    home = root / f"gnupg-{name}"
    home.mkdir(mode=0o700, parents=True)
    env = {**os.environ, "GNUPGHOME": str(home)}
    _run("gpg", "--batch", "--passphrase", "", "--quick-gen-key",
         f"{name} archive <{name}@example.invalid>", "ed25519", "sign", "never", env=env)
    out = _run("gpg", "--batch", "--with-colons", "--list-keys", env=env)
    fpr = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
    keyring = root / f"{name}.gpg"
    keyring.write_bytes(subprocess.run(["gpg", "--export", fpr], env=env, capture_output=True,
                                       check=True).stdout)
    return Key(home, fpr, keyring)


def build_deb(out: Path, package: str, version: str, arch: str, payload: bytes,
              *, udeb: bool = False) -> Path:
    root = out / f"build-{package}-{version}-{arch}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/share" / package).mkdir(parents=True)
    (root / "usr/share" / package / "data.txt").write_bytes(payload)
    section = "debian-installer" if udeb else "misc"
    (root / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: {arch}\n"
        f"Maintainer: Test <test@example.invalid>\nSection: {section}\nPriority: optional\n"
        f"Description: test package {package}\n a package built for mirror tests\n")
    target = out / f"{package}_{version}_{arch}.{'udeb' if udeb else 'deb'}"
    _run("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, target)
    shutil.rmtree(root)
    return target


def build_source(out: Path, package: str, version: str) -> Path:
    """A native source package: ``.dsc`` + ``.tar.xz`` made by dpkg-source."""
    root = out / f"{package}-{version}"
    (root / "debian/source").mkdir(parents=True)
    (root / "README").write_text(f"{package} {version}\n")
    (root / "debian/source/format").write_text("3.0 (native)\n")
    (root / "debian/control").write_text(
        f"Source: {package}\nSection: misc\nPriority: optional\n"
        f"Maintainer: Test <test@example.invalid>\nStandards-Version: 4.6.2\n\n"
        f"Package: {package}\nArchitecture: any\nDescription: test\n test package\n")
    (root / "debian/changelog").write_text(
        f"{package} ({version}) stable; urgency=low\n\n  * test\n\n"
        f" -- Test <test@example.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n")
    (root / "debian/rules").write_text("#!/usr/bin/make -f\n%:\n\tdh $@\n")
    _run("dpkg-source", "-b", root.name, cwd=out)
    shutil.rmtree(root)
    return out / f"{package}_{version}.dsc"


@dataclass
class RepoFiles:
    root: Path  # the repository root (dists/, pool/)

    def files(self) -> dict[str, bytes]:
        return {p.relative_to(self.root).as_posix(): p.read_bytes()
                for p in sorted(self.root.rglob("*")) if p.is_file()}

    def serve(self, upstream: Upstream, prefix: str, *, mtime: float = 1_700_000_000.0) -> None:
        for rel, body in self.files().items():
            upstream.add(f"{prefix}/{rel}", body, last_modified=mtime)


def reprepro_repo(root: Path, key: Key, *, debs: list[Path], dscs: list[Path],
                  suite: str = "stable", arches: str = "amd64 arm64",
                  components: str = "main contrib", drop_uncompressed: bool = True) -> RepoFiles:
    """A signed repository (InRelease, Release, Release.gpg; Packages .gz .xz; Sources)."""
    conf = root / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "distributions").write_text(
        f"Codename: {suite}\nSuite: {suite}\nArchitectures: {arches} source\n"
        f"Components: {components}\nUDebComponents: main\nSignWith: {key.fingerprint}\n"
        "DebIndices: Packages Release . .gz .xz\nDscIndices: Sources Release . .gz .xz\n"
        "UDebIndices: Packages . .gz .xz\n")
    env = key.env()
    for deb in debs:
        comp = "contrib" if "contrib" in deb.name else "main"
        kind = "includeudeb" if deb.suffix == ".udeb" else "includedeb"
        _run("reprepro", "-b", root, "-C", comp, kind, suite, deb, env=env)
    for dsc in dscs:
        _run("reprepro", "-b", root, "-C", "main", "includedsc", suite, dsc, env=env)
    if drop_uncompressed:  # as on Debian's archive: listed in Release, absent on the server
        for path in (root / "dists").rglob("Packages"):
            path.unlink()
    for junk in ("conf", "db"):
        shutil.rmtree(root / junk, ignore_errors=True)
    return RepoFiles(root)


def ftparchive_repo(root: Path, key: Key, *, debs: list[Path], suite: str = "jammy",
                    arch: str = "amd64") -> RepoFiles:
    """A second style of repository: apt-ftparchive with Acquire-By-Hash, as Ubuntu serves."""
    pool = root / "pool/main"
    pool.mkdir(parents=True)
    for deb in debs:
        shutil.copy(deb, pool / deb.name)
    bin_dir = root / f"dists/{suite}/main/binary-{arch}"
    bin_dir.mkdir(parents=True)
    packages = _run("apt-ftparchive", "packages", "pool", cwd=root)
    (bin_dir / "Packages").write_text(packages)
    _run("gzip", "-9nk", bin_dir / "Packages")
    _run("xz", "-k", bin_dir / "Packages")
    release = _run("apt-ftparchive", "-o", f"APT::FTPArchive::Release::Suite={suite}",
                   "-o", f"APT::FTPArchive::Release::Codename={suite}",
                   "-o", "APT::FTPArchive::Release::Components=main",
                   "-o", f"APT::FTPArchive::Release::Architectures={arch}",
                   "-o", "APT::FTPArchive::DoByHash=true",
                   "release", f"dists/{suite}", cwd=root)
    if "Acquire-By-Hash: yes" not in release:
        raise RuntimeError("apt-ftparchive did not write by-hash files")
    dist = root / f"dists/{suite}"
    (dist / "Release").write_text(release)
    env = key.env()
    _run("gpg", "--batch", "--yes", "-u", key.fingerprint, "--clearsign", "-o",
         dist / "InRelease", dist / "Release", env=env)
    _run("gpg", "--batch", "--yes", "-u", key.fingerprint, "-abs", "-o", dist / "Release.gpg",
         dist / "Release", env=env)
    return RepoFiles(root)
