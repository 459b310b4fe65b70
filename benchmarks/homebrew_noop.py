"""How long a Homebrew re-run with nothing new upstream takes, at full size.

    .venv/bin/python benchmarks/homebrew_noop.py [--formulae 9000] [--runs 3] [--keep DIR]

A synthetic upstream on loopback (9,000 formulae; bottles for 6 platform tags plus ``all``;
API files about as large as formulae.brew.sh's) is mirrored once, then mirrored again
with nothing changed, ``--runs`` times. The figures printed are each no-op run's wall time
and peak RSS (the ``mirrorkit`` process only, from ``wait4``) and their medians. Targets:
under 1 s and under 150 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import random
import shutil
import statistics
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _harness import measure_json, mirrorkit_cmd  # noqa: E402

from tests.support.jws_signer import public_key_file, signer  # noqa: E402
from tests.support.upstream import Handler, Upstream  # noqa: E402

TAGS = ["arm64_tahoe", "arm64_sequoia", "arm64_sonoma", "sonoma", "arm64_linux",
        "x86_64_linux"]
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
WORDS = ["library", "tool", "client", "server", "parser", "compression", "crypto", "network",
         "image", "audio", "video", "font", "shell", "language", "runtime", "database",
         "utility", "framework", "toolkit"]


def jws(payload: Any) -> bytes:
    """Signed like formulae.brew.sh (the mirror checks it: ``KEY_ARGS`` make it trust the
    benchmark's key)."""
    return signer().sign(payload)


#: ``mirrorkit run homebrew`` arguments trusting the key ``jws`` signs with
KEY_ARGS = ["--api-public-key", str(public_key_file())]


class Synthetic:
    def __init__(self, count: int, seed: int = 7) -> None:
        rnd = random.Random(seed)
        self.names = [f"{rnd.choice(WORDS)}-{i}" + ("@2" if i % 50 == 0 else "")
                      for i in range(count)]
        self.formulae: list[dict[str, Any]] = []
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        for i, name in enumerate(self.names):
            version = f"{rnd.randint(0, 9)}.{rnd.randint(0, 30)}.{rnd.randint(0, 9)}"
            revision = rnd.choice((0, 0, 0, 1, 2))
            rebuild = rnd.choice((0, 0, 0, 0, 1))
            if i % 10 == 0:
                tags = ["all"]
            else:
                tags = [t for t in TAGS if rnd.random() > 0.03]
                if "arm64_tahoe" in tags and rnd.random() < 0.1:
                    tags.remove("arm64_tahoe")  # served by arm64_sequoia
            files = {}
            for tag in tags:
                body = f"{name} {version} {tag}\n".encode() * 4
                sha = hashlib.sha256(body).hexdigest()
                self.blobs[sha] = body
                files[tag] = sha
            deps = rnd.sample(self.names[:i], min(i, rnd.randint(0, 4)))
            self.formulae.append({"name": name, "version": version, "revision": revision,
                                  "rebuild": rebuild, "files": files, "deps": deps,
                                  "desc": " ".join(rnd.choices(WORDS, k=8))})

    def legacy(self, f: dict[str, Any]) -> dict[str, Any]:
        image = f["name"].replace("@", "/")
        pad = " ".join(WORDS) * 4
        return {
            "name": f["name"], "full_name": f["name"], "tap": "homebrew/core",
            "oldnames": [], "aliases": [], "versioned_formulae": [], "desc": f["desc"],
            "license": "MIT", "homepage": f"https://example.org/{f['name']}",
            "versions": {"stable": f["version"], "head": None, "bottle": True},
            "urls": {"stable": {"url": f"https://example.org/{f['name']}-{f['version']}.tar.gz",
                                "tag": None, "revision": None, "using": None,
                                "checksum": "0" * 64}},
            "revision": f["revision"], "version_scheme": 0,
            "bottle": {"stable": {"rebuild": f["rebuild"],
                                  "root_url": "https://ghcr.io/v2/homebrew/core",
                                  "files": {t: {"cellar": ":any_skip_relocation",
                                                "url": "https://ghcr.io/v2/homebrew/core/"
                                                       f"{image}/blobs/sha256:{s}",
                                                "sha256": s} for t, s in f["files"].items()}}},
            "dependencies": f["deps"], "build_dependencies": ["pkgconf"],
            "uses_from_macos": ["zlib"], "uses_from_macos_bounds": [{}],
            "caveats": pad, "ruby_source_path": f"Formula/{f['name'][0]}/{f['name']}.rb",
            "ruby_source_checksum": {"sha256": "1" * 64},
            "variations": {t: {"dependencies": f["deps"]} for t in TAGS[:3]},
        }

    def internal(self, f: dict[str, Any], tag: str) -> dict[str, Any]:
        files = f["files"]
        served = tag if tag in files else "all" if "all" in files else (
            "arm64_sequoia" if tag == "arm64_tahoe" and "arm64_sequoia" in files else None)
        entry: dict[str, Any] = {
            "desc": f["desc"], "homepage": f"https://example.org/{f['name']}", "license": "MIT",
            "stable_version": f["version"], "ruby_source_checksum": "1" * 64,
            "stable_url_args": [f"https://example.org/{f['name']}-{f['version']}.tar.gz"],
            "stable_checksum": "0" * 64,
            "stable_dependencies": [*f["deps"], {"pkgconf": ":build"}],
            "stable_uses_from_macos": [["zlib"]],
        }
        if f["revision"]:
            entry["revision"] = f["revision"]
        if f["rebuild"]:
            entry["bottle_rebuild"] = f["rebuild"]
        if served:
            entry["bottle_checksum"] = files[served]
            if served != tag:
                entry["bottle_tag"] = f":{served}"
        return entry

    def manifest(self, f: dict[str, Any]) -> tuple[str, bytes]:
        pv = f"{f['version']}_{f['revision']}" if f["revision"] else f["version"]
        tag = f"{pv}-{f['rebuild']}" if f["rebuild"] else pv
        suffix = f".{f['rebuild']}" if f["rebuild"] else ""
        descs = [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "digest": "sha256:" + "2" * 64, "size": 2000,
                  "annotations": {"org.opencontainers.image.ref.name": f"{pv}.{t}{suffix}",
                                  "sh.brew.bottle.digest": s,
                                  "sh.brew.bottle.size": str(len(self.blobs[s])),
                                  "sh.brew.tab": json.dumps({"homebrew_version": "6.0.0",
                                                             "changed_files": ["x"] * 20})}}
                 for t, s in f["files"].items()]
        image = f["name"].replace("@", "/")
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs})
        return f"/v2/homebrew/core/{image}/manifests/{tag}", body.encode()

    def serve(self, up: Upstream) -> None:
        when = 1_750_000_000.0
        up.add("/api/formula.jws.json", jws([self.legacy(f) for f in self.formulae]),
               last_modified=when)
        casks = [{"token": f"cask-{i}", "version": "1.0", "url": "https://example.org/x.dmg",
                  "desc": "an app " * 10} for i in range(7000)]
        up.add("/api/cask.jws.json", jws(casks), last_modified=when)
        up.add("/api/formula_tap_migrations.jws.json", jws({}), last_modified=when)
        up.add("/api/cask_tap_migrations.jws.json", jws({}), last_modified=when)
        for tag in TAGS:
            payload = {"metadata": {"bottle_tag": tag},
                       "formulae": {f["name"]: self.internal(f, tag) for f in self.formulae},
                       "casks": {c["token"]: c for c in casks},
                       "formula_aliases": {}, "formula_renames": {}}
            up.add(f"/api/internal/packages.{tag}.jws.json", jws(payload), last_modified=when)
        for f in self.formulae:
            path, body = self.manifest(f)
            self.manifests[path] = body

        def registry(req: Handler) -> bool:
            path = req.path.split("?", 1)[0]
            if "/manifests/" in path and path in self.manifests:
                body = self.manifests[path]
                req.send_body(200, body, {"Content-Type": OCI_INDEX, "Docker-Content-Digest":
                                          "sha256:" + hashlib.sha256(body).hexdigest()})
            elif "/blobs/sha256:" in path and path.rsplit(":", 1)[1] in self.blobs:
                req.send_body(200, self.blobs[path.rsplit(":", 1)[1]])
            else:
                req.send_body(404, b"not found\n")
            return True

        up.route("/v2/", registry)


class ServedUpstream:
    """The synthetic upstream, served by a process of its own.

    A child started from this process inherits its size: Linux counts the parent's peak RSS
    at the time of the fork in the child's (``wait4``'s ``ru_maxrss``), and this upstream
    holds about 300 MB of API files and manifests. Served from another process, the figures
    are mirrorkit's own.
    """

    def __init__(self, formulae: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, formulae), daemon=True)
        self._proc.start()
        self.url: str = self._conn.recv()

    def ask(self, command: str) -> int:
        """``clear`` the request log, or ``count`` its requests."""
        self._conn.send(command)
        answer: int = self._conn.recv()
        return answer

    def stop(self) -> None:
        self._conn.send("stop")
        self._proc.join(10)


def _serve(conn: Connection, formulae: int) -> None:
    synthetic = Synthetic(formulae)
    up = Upstream().start()
    synthetic.serve(up)
    conn.send(up.url)
    while (command := conn.recv()) != "stop":
        if command == "clear":
            up.clear_log()
        conn.send(len(up.log))
    up.stop()


def run(dest: Path, url: str) -> tuple[float, float, float, dict[str, Any]]:
    """One ``mirrorkit run homebrew``: (wall seconds, CPU seconds, peak RSS in MB, report)."""
    cmd = [*mirrorkit_cmd("run", "homebrew"), "--dest", str(dest), "--json",
           "--api-url", f"{url}/api", "--registry-url", f"{url}/v2/homebrew/core",
           *KEY_ARGS]
    return measure_json(cmd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formulae", type=int, default=9000)
    parser.add_argument("--runs", type=int, default=3, help="no-op runs (the median is shown)")
    parser.add_argument("--keep", type=Path, help="mirror here and keep it (default: a temp dir)")
    args = parser.parse_args()
    up = ServedUpstream(args.formulae)
    dest = args.keep or Path(tempfile.mkdtemp(prefix="mirrorkit-bench-")) / "mirror"
    try:
        first_s, first_cpu, first_mb, first = run(dest, up.url)
        print(f"first run: {first_s:.1f} s (CPU {first_cpu:.1f} s), peak RSS {first_mb:.0f} MB, "
              f"{first['files']} files, {first['downloaded']} downloaded")
        walls, cpus, rss = [], [], []
        ok, requests = True, 0
        for i in range(args.runs):
            up.ask("clear")
            noop_s, noop_cpu, noop_mb, noop = run(dest, up.url)
            requests = up.ask("count")
            walls.append(noop_s)
            cpus.append(noop_cpu)
            rss.append(noop_mb)
            ok = ok and noop["downloaded"] == 0 and noop["snapshot"] == first["snapshot"]
            print(f"no-op run {i + 1}/{args.runs}: {noop_s:.2f} s (CPU {noop_cpu:.2f} s), peak "
                  f"RSS {noop_mb:.0f} MB, {noop['files']} files, {noop['downloaded']} "
                  f"downloaded, {requests} requests upstream")
        wall, mb = statistics.median(walls), statistics.median(rss)
        print(f"no-op run: {wall:.2f} s (CPU {statistics.median(cpus):.2f} s), peak RSS "
              f"{mb:.0f} MB, medians of {args.runs}")
        ok = ok and wall < 1 and mb < 150
        print("targets (< 1 s, < 150 MB, nothing downloaded, the snapshot kept):",
              "met" if ok else "NOT met")
    finally:
        up.stop()
        if args.keep is None:
            shutil.rmtree(dest.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
