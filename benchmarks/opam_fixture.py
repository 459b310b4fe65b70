"""A synthetic opam repository the size of opam-repository, for the opam benchmarks.

4,600 packages, 18,800 versions, about 22,000 distinct checksums (opam-repository in 2026:
4,596 packages, 18,793 versions, 21,736 checksums; the first-listed checksum is sha256 for
72% of the sources, md5 for 27%, sha512 for 2%). Each ``opam`` file is shaped like the
real ones (description, depends with constraints and filters, build commands, ``url`` with
one to three checksums, some ``extra-source`` and ``extra-files``), about 1.2 KB each.
Families of packages share one archive, as dune-built projects do. Archives are 256 random
bytes each (their checksums are real), so the repository's cache fits in inodes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

__all__ = ["generate"]

PACKAGES = 4_600
VERSIONS = 18_800
WHEN = 1_700_000_000


def _checksums(data: bytes, algos: list[str]) -> str:
    return " ".join(f'"{a}={hashlib.new(a, data).hexdigest()}"' for a in algos)


def _opam(rnd: random.Random, name: str, version: str, names: list[str], archive: bytes,
          algos: list[str], extra: bytes | None) -> str:
    deps = [f'"ocaml" {{>= "4.{rnd.randint(2, 14):02d}"}}', '"dune" {>= "3.0"}']
    for dep in rnd.sample(names, rnd.randint(1, 6)):
        if dep != name:
            deps.append(rnd.choice([f'"{dep}"', f'"{dep}" {{>= "{rnd.randint(0, 3)}.0"}}',
                                    f'"{dep}" {{with-test}}', f'"{dep}" {{= version}}',
                                    f'"{dep}" {{>= "1.0" & < "{rnd.randint(2, 5)}.0"}}']))
    text = f"""opam-version: "2.0"
synopsis: "The {name} library, version {version}"
description: \"\"\"
{name} does one thing and does it well. It is used by many other packages
of the repository, and this paragraph is as long as a typical description.\"\"\"
maintainer: ["Jane Doe <jane@example.org>"]
authors: ["Jane Doe" "John Roe"]
license: "ISC"
tags: ["org:example" "topic:{rnd.choice(['web', 'crypto', 'parsing', 'sys'])}"]
homepage: "https://github.com/example/{name}"
doc: "https://example.github.io/{name}/"
bug-reports: "https://github.com/example/{name}/issues"
depends: [
  {chr(10).join('  ' + d for d in deps)}
]
build: [
  ["dune" "subst"] {{dev}}
  ["dune" "build" "-p" name "-j" jobs "@install" "@runtest" {{with-test}} "@doc" {{with-doc}}]
]
dev-repo: "git+https://github.com/example/{name}.git"
url {{
  src: "https://github.com/example/{name}/releases/download/{version}/{name}-{version}.tbz"
  checksum: [
    {_checksums(archive, algos)}
  ]
}}
x-commit-hash: "{hashlib.sha1(f'{name}{version}'.encode()).hexdigest()}"
"""
    if extra is not None:
        text += f"""extra-source "fix-build.patch" {{
  src: "https://raw.githubusercontent.com/example/patches/{name}.patch"
  checksum: [ {_checksums(extra, ["sha256"])} ]
}}
"""
    return text


def generate(workdir: Path) -> Path:
    """The repository directory under ``workdir`` (built once, kept between invocations).

    It holds ``index.tar.gz``, ``repo``, ``urls.txt`` and ``cache/`` with the archive of
    every source at its first-listed checksum's path (as ``opam admin cache`` leaves it).
    """
    root = workdir / f"repo-{VERSIONS}"
    stamp = root / "stats.json"
    if stamp.exists():
        return root
    rnd = random.Random(26)
    names = [f"pkg{i:04d}-{rnd.choice(['core', 'lwt', 'ppx', 'cohttp', 'ml'])}"
             for i in range(PACKAGES)]
    # every package has one version; the other 14,200 go to random packages
    versions: dict[str, list[str]] = {n: ["1.0.0"] for n in names}
    for _ in range(VERSIONS - PACKAGES):
        name = rnd.choice(names)
        versions[name].append(f"{len(versions[name]) + 1}.{rnd.randint(0, 9)}.0")
    shared: dict[tuple[str, str], bytes] = {}
    cache: dict[str, bytes] = {}
    checksums: set[str] = set()
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add(path: str, data: bytes | None) -> None:
            info = tarfile.TarInfo(path)
            info.mtime = WHEN
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))

        add("packages", None)
        for n, name in enumerate(names):
            add(f"packages/{name}", None)
            family = names[n - n % 4]  # four packages in a row share their releases
            for version in versions[name]:
                key = (family, version)
                if key not in shared or rnd.random() < 0.3:
                    shared[key] = rnd.randbytes(256)
                archive = shared[key]
                r = rnd.random()
                algos = (["sha256", "sha512"] if r < 0.25 else ["sha256"] if r < 0.72
                         else ["md5", "sha256"] if r < 0.76 else ["md5"] if r < 0.98
                         else ["sha512"])
                extra = rnd.randbytes(64) if rnd.random() < 0.02 else None
                text = _opam(rnd, name, version, names, archive, algos, extra)
                label = f"{name}.{version}"
                add(f"packages/{name}/{label}", None)
                add(f"packages/{name}/{label}/opam", text.encode())
                if extra is not None:
                    add(f"packages/{name}/{label}/files", None)
                    add(f"packages/{name}/{label}/files/fix.patch", b"a patch\n")
                for data, first in ((archive, algos[0]), (extra, "sha256")):
                    if data is None:
                        continue
                    h = hashlib.new(first, data).hexdigest()
                    cache[f"cache/{first}/{h[:2]}/{h}"] = data
                for a in algos:
                    checksums.add(f"{a}={hashlib.new(a, archive).hexdigest()}")
                if extra is not None:
                    checksums.add(f"sha256={hashlib.sha256(extra).hexdigest()}")
        repo = b'opam-version: "2.0"\narchive-mirrors: "cache"\n'
        add("repo", repo)
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.tar.gz").write_bytes(raw.getvalue())
    (root / "repo").write_bytes(repo)
    md5 = hashlib.md5(repo).hexdigest()
    (root / "urls.txt").write_text(f"repo\t{md5}\t420\n")
    for rel, data in cache.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    stats = {"packages": PACKAGES, "versions": VERSIONS, "checksums": len(checksums),
             "cache_files": len(cache), "index_bytes": len(raw.getvalue())}
    stamp.write_text(json.dumps(stats))
    return root
