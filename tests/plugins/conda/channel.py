"""A real conda channel for tests: packages built with conda-package-handling (both formats),
indexed by py-rattler's ``rattler.index``, served by the loopback upstream."""

from __future__ import annotations

import asyncio
import bz2
import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from conda_package_handling import api as cph
from rattler.index import index_fs

from tests.support.upstream import Upstream

WHEN = 1_760_000_000.0


@dataclass(frozen=True)
class Pkg:
    name: str
    version: str
    subdir: str = "noarch"
    depends: tuple[str, ...] = ()
    build_number: int = 0
    fmt: str = ".conda"

    @property
    def build(self) -> str:
        return f"h{hashlib.sha256(self.name.encode()).hexdigest()[:8]}_{self.build_number}"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.build}{self.fmt}"

    @property
    def path(self) -> str:
        return f"{self.subdir}/{self.filename}"


def build_package(pkg: Pkg, out_dir: Path) -> Path:
    """A real, installable conda package with one data file, in ``pkg.fmt``."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp)
        payload = f"share/{pkg.name}/VERSION"
        (prefix / payload).parent.mkdir(parents=True)
        content = f"{pkg.name} {pkg.version}\n".encode()
        (prefix / payload).write_bytes(content)
        index = {"name": pkg.name, "version": pkg.version, "build": pkg.build,
                 "build_number": pkg.build_number, "depends": list(pkg.depends),
                 "license": "MIT", "subdir": pkg.subdir, "timestamp": 1_700_000_000_000}
        if pkg.subdir == "noarch":
            index["noarch"] = "generic"
        else:
            index.update(arch="x86_64", platform="linux")
        info = prefix / "info"
        info.mkdir()
        (info / "index.json").write_text(json.dumps(index, indent=2))
        (info / "files").write_text(payload + "\n")
        (info / "paths.json").write_text(json.dumps({"paths_version": 1, "paths": [
            {"_path": payload, "path_type": "hardlink", "size_in_bytes": len(content),
             "sha256": hashlib.sha256(content).hexdigest()}]}))
        files = ["info/index.json", "info/files", "info/paths.json", payload]
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = pkg.filename[: -len(pkg.fmt)]
        cph.create(str(prefix), files, stem + pkg.fmt, out_folder=str(out_dir))
    return out_dir / pkg.filename


@dataclass
class Channel:
    """A channel directory indexed by rattler, served at ``<upstream>/chan``."""

    root: Path
    upstream: Upstream
    packages: list[Pkg] = field(default_factory=list)
    variants: bool = True  # also publish .bz2, current_repodata.json and channeldata.json

    @property
    def url(self) -> str:
        return f"{self.upstream.url}/chan"

    def add(self, *pkgs: Pkg) -> None:
        for pkg in pkgs:
            build_package(pkg, self.root / pkg.subdir)
            self.packages.append(pkg)

    def remove(self, pkg: Pkg) -> None:
        (self.root / pkg.path).unlink()
        self.packages.remove(pkg)

    def publish(self) -> None:
        """Index with rattler and serve every file (with ETag and Last-Modified)."""
        for subdir in {"noarch", *(p.subdir for p in self.packages)}:
            (self.root / subdir).mkdir(parents=True, exist_ok=True)
        asyncio.run(index_fs(self.root, write_zst=True, write_shards=False, force=True))
        if self.variants:
            self._extra_variants()
        self.upstream.files = {k: v for k, v in self.upstream.files.items()
                               if not k.startswith("/chan/")}
        for path in self.root.rglob("*"):
            if path.is_file() and not any(
                    part.startswith(".") for part in path.relative_to(self.root).parts):
                rel = path.relative_to(self.root).as_posix()
                self.upstream.add(f"/chan/{rel}", path.read_bytes(), last_modified=WHEN)

    def _extra_variants(self) -> None:
        names: set[str] = set()
        for subdir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            repodata = subdir / "repodata.json"
            if not repodata.exists():
                continue
            raw = repodata.read_bytes()
            (subdir / "repodata.json.bz2").write_bytes(bz2.compress(raw))
            doc = json.loads(raw)
            newest: dict[str, str] = {}
            for section in ("packages", "packages.conda"):
                for rec in doc.get(section, {}).values():
                    names.add(rec["name"])
                    newest[rec["name"]] = max(newest.get(rec["name"], "0"), rec["version"])
            for section in ("packages", "packages.conda"):
                doc[section] = {f: r for f, r in doc.get(section, {}).items()
                                if r["version"] == newest[r["name"]]}
            (subdir / "current_repodata.json").write_text(json.dumps(doc, indent=1))
        subdirs = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        (self.root / "channeldata.json").write_text(json.dumps({
            "channeldata_version": 1, "subdirs": subdirs,
            "packages": {n: {"subdirs": subdirs, "license": "MIT"} for n in sorted(names)}},
            indent=2))


def make_channel(tmp: Path, upstream: Upstream) -> Channel:
    root = tmp / "channel"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return Channel(root, upstream)
