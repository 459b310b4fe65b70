"""What the opam tests share: running the CLI against a fake repository, reading a mirror."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

from tests.plugins.opam.fake_repo import OpamRepo
from tests.support.cli import Result, run_cli

INDEX_FILES = {"index.tar.gz", "repo", "urls.txt"}


def mirror(repo: OpamRepo, dest: Path, *extra: str, command: str = "run") -> Result:
    return run_cli(command, "opam", "--dest", dest, "--json", "--repo-url", repo.url,
                   "--retries", "1", "--backoff-initial", "0", "--backoff-max", "0", *extra)


def cache_files(repo: OpamRepo, labels: set[str] | None = None) -> set[str]:
    """Every cache path of the packages (all of them, or those of ``labels``)."""
    return {path for pkg in repo.packages.values()
            if labels is None or pkg.label in labels for path in repo.cache_files(pkg)}


def index_members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tar:
        return tar.getmembers()


def index_bytes(path: Path) -> dict[str, bytes]:
    """The regular files of an index and their content."""
    out = {}
    with tarfile.open(path, "r:gz") as tar:
        for info in tar.getmembers():
            if info.isfile():
                fh = tar.extractfile(info)
                assert fh is not None
                out[info.name] = fh.read()
    return out


def version_dirs(path: Path) -> set[str]:
    """NAME.VERSION of every package directory the index holds."""
    return {m.name.split("/")[2] for m in index_members(path)
            if m.name.startswith("packages/") and m.name.endswith("/opam")}


def digests(data: bytes) -> dict[str, str]:
    return {a: hashlib.new(a, data).hexdigest() for a in ("md5", "sha256", "sha512")}


def inode(path: Path) -> int:
    return os.stat(path).st_ino
