"""Real archives for the fake Homebrew upstream: bottles brew can pour, source tarballs, the
formula Ruby files brew downloads to build from source.

A bottle is what ``brew bottle`` writes: a gzipped tar of ``<name>/<pkg_version>/`` holding
the keg (here ``bin/<name>``, a shell script saying which bottle it came from), its
``INSTALL_RECEIPT.json`` (read when no manifest gives the tab: the flat layout) and
``.brew/<name>.rb``. Every archive is built deterministically (fixed mtimes, owners, gzip
header), so its sha256 depends only on what it holds.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from functools import lru_cache
from typing import Any

__all__ = ["bottle_tarball", "class_name", "formula_ruby", "install_receipt", "source_tarball"]

MTIME = 1_700_000_000
TAP_GIT_HEAD = "5c1e5e8e0f3a4b6d7e8f9a0b1c2d3e4f5a6b7c8d"


def _targz(members: list[tuple[str, bytes, int]]) -> bytes:
    """A deterministic .tar.gz of ``(path, body, mode)``; directories are made implicitly."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        seen: set[str] = set()
        for path, body, mode in members:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                folder = "/".join(parts[:i])
                if folder not in seen:
                    seen.add(folder)
                    info = tarfile.TarInfo(folder)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
                    tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(body), mode, MTIME
            tar.addfile(info, io.BytesIO(body))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def class_name(formula: str) -> str:
    """brew's ``Formulary.class_s``: ``openssl@3`` -> ``OpensslAT3``."""
    name = formula.capitalize()
    name = re.sub(r"[-_.\s]([a-zA-Z0-9])", lambda m: m.group(1).upper(), name)
    name = name.replace("+", "x")
    return re.sub(r"(.)@(\d)", r"\1AT\2", name, count=1)


def formula_ruby(name: str, version: str, url: str, sha256: str, deps: list[str],
                 bottles: dict[str, str]) -> bytes:
    """The formula's Ruby file, as homebrew-core would have it."""
    lines = [f"class {class_name(name)} < Formula",
             f'  desc "{name} does things"',
             f'  homepage "https://example.org/{name}"',
             f'  url "{url}"',
             f'  sha256 "{sha256}"',
             '  license "MIT"', ""]
    if bottles:
        lines.append("  bottle do")
        lines += [f'    sha256 cellar: :any_skip_relocation, {tag}: "{sha}"'
                  for tag, sha in bottles.items()]
        lines += ["  end", ""]
    lines += [f'  depends_on "{dep}"' for dep in deps]
    lines += ["", "  def install",
              f'    (bin/"{name}").write "#!/bin/sh\\necho {name} {version} built from source\\n"',
              "  end", "end", ""]
    return "\n".join(lines).encode()


def install_receipt(name: str, pkg_version: str, tag: str,
                    runtime_dependencies: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The tab ``brew bottle`` writes into a bottle (and puts in its manifest)."""
    version = pkg_version.split("_", 1)[0]
    linux = tag.endswith("_linux")
    return {
        "homebrew_version": "4.3.0", "used_options": [], "unused_options": [],
        "built_as_bottle": True, "poured_from_bottle": False, "loaded_from_api": False,
        "installed_as_dependency": False, "installed_on_request": False, "changed_files": [],
        "time": None, "source_modified_time": MTIME, "compiler": "gcc-11" if linux else "clang",
        "aliases": [], "runtime_dependencies": runtime_dependencies,
        "source": {"spec": "stable", "versions": {"stable": version, "head": None,
                                                  "version_scheme": 0},
                   "path": f"@@HOMEBREW_REPOSITORY@@/Library/Taps/homebrew/homebrew-core/"
                           f"Formula/{name[0]}/{name}.rb",
                   "tap_git_head": TAP_GIT_HEAD, "tap": "homebrew/core"},
        "arch": "arm64" if tag.startswith("arm64") else "x86_64",
        "built_on": {"os": "Linux" if linux else "Macintosh",
                     "os_version": "Ubuntu 22.04" if linux else "macOS 15",
                     "cpu_family": "x86_64" if linux else "arm_firestorm_icestorm",
                     "xcode": None, "clt": None, "preferred_perl": None,
                     "glibc_version": "2.35" if linux else None,
                     "oldest_cpu_family": "core2" if linux else None},
    }


@lru_cache(maxsize=512)
def bottle_tarball(name: str, pkg_version: str, tag: str, rebuild: int) -> bytes:
    """A bottle of ``name`` for ``tag``: pourable by brew, distinct per tag and rebuild."""
    keg = f"{name}/{pkg_version}"
    script = (f"#!/bin/sh\necho '{name} {pkg_version} from the {tag} bottle"
              f"{f' (rebuild {rebuild})' if rebuild else ''}'\n").encode()
    receipt = json.dumps(install_receipt(name, pkg_version, tag), indent=2).encode()
    return _targz([
        (f"{keg}/bin/{name}", script, 0o755),
        (f"{keg}/INSTALL_RECEIPT.json", receipt, 0o644),
        (f"{keg}/.brew/{name}.rb", f"# {name} {pkg_version}\n".encode(), 0o644),
    ])


@lru_cache(maxsize=512)
def source_tarball(name: str, version: str) -> bytes:
    """``<name>-<version>.tar.gz`` as a project would publish it."""
    top = f"{name}-{version}"
    return _targz([(f"{top}/README", f"{name} {version}\n".encode(), 0o644),
                   (f"{top}/configure", b"#!/bin/sh\nexit 0\n", 0o755)])


@lru_cache(maxsize=64)
def cask_archive(token: str, version: str, variant: str) -> bytes:
    """What a cask downloads (a vendor's archive; its format does not matter to a mirror)."""
    return _targz([(f"{token}.app/Contents/Info.plist",
                    f"{token} {version} {variant}\n".encode(), 0o644)])
