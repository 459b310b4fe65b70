"""How long an apt re-run with nothing new upstream takes, at Ubuntu jammy main+universe size,
beside apt-mirror's no-op over the same tree.

    .venv/bin/python benchmarks/apt_noop.py [--per-arch 45000] [--rounds 3] [--profile]

A generated, signed suite on loopback: components main (6,000 stanzas per architecture) and
universe (the rest), architectures amd64 and arm64, 10% of packages ``Architecture: all``
(named in both architectures' indexes, as on Ubuntu), stanzas about as long as Ubuntu's,
and per component and architecture the six index files Ubuntu serves (``Packages.gz``,
``Packages.xz``, ``Release`` and their ``by-hash`` copies; ``Packages`` listed but absent).
It is mirrored once, then re-run once (the first re-run plans again: see docs/benchmarks.md),
then, rounds interleaved, mirrorkit's no-op re-run and apt-mirror's no-op re-run over a
hard-linked copy of the same tree. Printed: each run's wall time, CPU time and peak RSS (the
tool's processes only, from ``wait4``), what mirrorkit asked upstream, the medians and their
ratio. Targets: mirrorkit's no-op at most 0.2x apt-mirror's and under 1 s, conditional
requests only. ``--profile`` runs one more no-op under cProfile and prints where its time
goes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import lzma
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _harness import measure_json, mirrorkit_cmd  # noqa: E402

from mirrorkit.testing import Handler, Upstream, _Server  # noqa: E402
from tests.plugins.apt.debrepo import Key, make_key  # noqa: E402

ARCHES = ("amd64", "arm64")
MAIN_PER_ARCH = 6000
WORDS = ["library", "tool", "client", "server", "parser", "compression", "crypto", "network",
         "image", "audio", "video", "font", "shell", "language", "runtime", "database"]


def pool_body(path: str) -> bytes:
    return (path + "\n").encode() * 3


class Suite:
    """Index files (bytes by path) and the pool's sizes and digests, generated once."""

    def __init__(self, per_arch: int, key: Key, seed: int = 11) -> None:
        rnd = random.Random(seed)
        self.files: dict[str, bytes] = {}
        self.pool: dict[str, bytes] = {}
        self.stanzas = 0
        listed: list[tuple[str, bytes]] = []
        for comp, count in (("main", MAIN_PER_ARCH), ("universe", per_arch - MAIN_PER_ARCH)):
            shared = [self._stanza(rnd, comp, i, "all") for i in range(count // 10)]
            for arch in ARCHES:
                own = [self._stanza(rnd, comp, i, arch) for i in range(count // 10, count)]
                text = "".join(shared + own).encode()
                self.stanzas += len(shared) + len(own)
                base = f"{comp}/binary-{arch}"
                release = (f"Archive: jammy\nVersion: 22.04\nComponent: {comp}\nOrigin: Ubuntu\n"
                           f"Label: Ubuntu\nArchitecture: {arch}\n").encode()
                variants = {"Packages": text, "Packages.gz": gzip.compress(text, 6, mtime=0),
                            "Packages.xz": lzma.compress(text, preset=1), "Release": release}
                for name, body in variants.items():
                    listed.append((f"{base}/{name}", body))
                    if name != "Packages":  # listed in Release, absent upstream (as Ubuntu)
                        self.files[f"dists/jammy/{base}/{name}"] = body
                        digest = hashlib.sha256(body).hexdigest()
                        self.files[f"dists/jammy/{base}/by-hash/SHA256/{digest}"] = body
        lines = "".join(f" {hashlib.sha256(b).hexdigest()} {len(b):>16} {n}\n"
                        for n, b in listed)
        release_text = ("Origin: Ubuntu\nLabel: Ubuntu\nSuite: jammy\nCodename: jammy\n"
                        "Date: Thu, 21 Apr 2022 17:16:08 UTC\nArchitectures: amd64 arm64\n"
                        "Components: main universe\nAcquire-By-Hash: yes\nSHA256:\n" + lines)
        self.files["dists/jammy/Release"] = release_text.encode()
        self.files["dists/jammy/InRelease"] = _gpg(key, "--clearsign", release_text)
        self.files["dists/jammy/Release.gpg"] = _gpg(key, "-abs", release_text)

    def _stanza(self, rnd: random.Random, comp: str, i: int, arch: str) -> str:
        name = f"{rnd.choice(WORDS)}-{comp}-{i}"
        version = f"{rnd.randint(0, 9)}.{rnd.randint(0, 30)}-{rnd.randint(1, 5)}ubuntu1"
        path = f"pool/{comp}/{name[0]}/{name}/{name}_{version}_{arch}.deb"
        body = self.pool.get(path)
        if body is None:
            body = self.pool[path] = pool_body(path)
        desc = " ".join(rnd.choices(WORDS, k=12))
        return (f"Package: {name}\nArchitecture: {arch}\nVersion: {version}\n"
                f"Priority: optional\nSection: {comp}/utils\nOrigin: Ubuntu\n"
                "Maintainer: Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>\n"
                f"Installed-Size: {rnd.randint(10, 9000)}\nDepends: libc6 (>= 2.34)\n"
                f"Filename: {path}\nSize: {len(body)}\n"
                f"MD5sum: {hashlib.md5(body).hexdigest()}\n"
                f"SHA1: {hashlib.sha1(body).hexdigest()}\n"
                f"SHA256: {hashlib.sha256(body).hexdigest()}\n"
                f"SHA512: {hashlib.sha512(body).hexdigest()}\n"
                f"Homepage: https://example.org/{name}\nDescription: {desc}\n"
                f"Task: ubuntu-desktop\nDescription-md5: {'0' * 32}\n\n")

    def serve(self, up: Upstream) -> None:
        for rel, body in self.files.items():
            up.add(f"/ubuntu/{rel}", body, last_modified=1_650_000_000.0)

        def pool(req: Handler) -> bool:
            path = req.path.split("?", 1)[0].removeprefix("/ubuntu/")
            body = self.pool.get(path)
            if body is None:
                req.send_body(404, b"not found\n")
            else:
                req.send_body(200, body, head=req.command == "HEAD")
            return True

        up.route("/ubuntu/pool/", pool)


def _gpg(key: Key, mode: str, text: str) -> bytes:
    return subprocess.run(["gpg", "--batch", "-u", key.fingerprint, mode, "-o", "-"],
                          input=text.encode(), env=key.env(), capture_output=True,
                          check=True).stdout


def run(dest: Path, listing: Path, *, profile: Path | None = None
        ) -> tuple[float, float, float, dict[str, Any]]:
    """One ``mirrorkit run apt``: (wall seconds, CPU seconds, peak RSS in MB, report)."""
    args = ["run", "apt", "--mirror-list", str(listing), "--dest", str(dest), "--json"]
    cmd = mirrorkit_cmd(*args)
    if profile is not None:  # the same command under cProfile
        cmd = [cmd[0], "-m", "cProfile", "-o", str(profile), "-m", "mirrorkit", *args]
    return measure_json(cmd)


def on_port_80(up: Upstream) -> Upstream:
    """The upstream on port 80 when free (the only port apt-mirror handles), else as it is."""
    try:
        server = _Server(("127.0.0.1", 80), Handler)
    except OSError:
        return up
    up._server.server_close()
    server.upstream = up
    up._server = server
    up._thread = threading.Thread(target=server.serve_forever, daemon=True)
    return up


def run_apt_mirror(listing: Path) -> tuple[float, float, float]:
    """One ``apt-mirror`` run (the peer): (wall seconds, CPU seconds with wget, peak RSS MB)."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    started = time.monotonic()
    proc = subprocess.Popen(["apt-mirror", str(listing)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"apt-mirror exited {os.waitstatus_to_exitcode(status)}")
    # wait4's figures include the wget processes apt-mirror waited for
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def peer_listing(dest: Path, work: Path, up: Upstream) -> Path | None:
    """apt-mirror set up over a hard-linked copy of the tree (its layout is ours), its
    ``skel/`` filled by one run; the list to re-run it with, or None when it cannot run."""
    if shutil.which("apt-mirror") is None:
        print("apt-mirror not installed (apt-get install apt-mirror): peer skipped")
        return None
    if up.port != 80:
        # wget -r saves under "host:port/", apt-mirror then looks under "host/": it cannot
        # mirror from any port but the default one
        print("port 80 was busy, apt-mirror cannot use another port: peer skipped")
        return None
    base = work / "apt-mirror"
    (base / "mirror").mkdir(parents=True)
    subprocess.run(["cp", "-al", str(dest / "127.0.0.1"), str(base / "mirror")], check=True)
    listing = base / "mirror.list"
    # one line per architecture: apt-mirror takes only the first of arch=amd64,arm64
    listing.write_text(f"set base_path {base}\nset nthreads 20\nset _contents 0\n"
                       f"deb-amd64 {up.url}/ubuntu jammy main universe\n"
                       f"deb-arm64 {up.url}/ubuntu jammy main universe\n")
    run_apt_mirror(listing)  # fills its skel/ with the indexes; the pool is already there
    return listing


def _best(fn: Callable[[], object], times: int = 5) -> float:
    """The shortest of ``times`` timings of ``fn`` (seconds): the cost without the noise."""
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _child_seconds(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one child process (best wall of 5)."""
    best = (float("inf"), 0.0)
    for _ in range(5):
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        if wall < best[0]:
            best = (wall, usage.ru_utime + usage.ru_stime)
    return best


def core_costs(dest: Path) -> None:
    """What a kept plan's fixed parts cost, each timed alone in this process (no profiler):
    the interpreter and mirrorkit's imports, and reading the previous manifest."""
    from mirrorkit.core.plan.paths import all_normal
    from mirrorkit.core.store.manifest import FileEntry, Manifest, load_manifest

    raw = (dest / ".mirrorkit" / "manifest.json").read_bytes()
    data = json.loads(raw)
    files = data["files"]
    python = mirrorkit_cmd()[0]
    rows = [
        ("python -c pass (the interpreter)", *_child_seconds([python, "-c", "pass"])),
        ("mirrorkit --version (start-up, plugins loaded)",
         *_child_seconds([*mirrorkit_cmd(), "--version"])),
        ("import the run's modules (engine, transport, apt planner)", *_child_seconds(
            [python, "-c", "import mirrorkit.cli, mirrorkit.core.run.engine, "
             "mirrorkit.core.fetch.downloader, mirrorkit.plugins.apt.planner"])),
    ]
    print(f"\ncore costs of a kept plan, timed alone ({len(files)} manifest entries, "
          f"{len(raw) / 1e6:.1f} MB of manifest.json):")
    for what, wall, cpu in rows:
        print(f"  {what}: {wall:.3f} s wall, {cpu:.3f} s CPU")
    for what, fn in (
            ("read manifest.json", lambda: (dest / ".mirrorkit" / "manifest.json").read_bytes()),
            ("json.loads of it", lambda: json.loads(raw)),
            ("all_normal (every path checked at once)", lambda: all_normal(files)),
            ("FileEntry.from_json per entry", lambda: [FileEntry.from_json(v)
                                                       for v in files.values()]),
            ("Manifest.from_json (the two above and the dict)",
             lambda: Manifest.from_json(data, where="bench")),
            ("load_manifest (all of it)", lambda: load_manifest(dest))):
        print(f"  {what}: {_best(fn):.3f} s")


def profile_noop(dest: Path, listing: Path, work: Path) -> None:
    """One more no-op under cProfile: where its time goes, by function."""
    core_costs(dest)
    out = work / "noop.prof"
    wall, cpu, _, _ = run(dest, listing, profile=out)
    print(f"\nprofiled no-op run: {wall:.2f} s (CPU {cpu:.2f} s; cProfile slows Python "
          "code down); mirrorkit's functions by cumulative time:")
    stats = pstats.Stats(str(out))
    stats.sort_stats("cumulative").print_stats(r"mirrorkit/(core|plugins)/", 30)
    print("every function by own time:")
    stats.sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-arch", type=int, default=45000,
                        help="package stanzas per architecture (main + universe)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="no-op runs of each tool, interleaved (medians are compared)")
    parser.add_argument("--keep", type=Path, help="mirror here and keep it (default: a temp dir)")
    parser.add_argument("--no-peer", action="store_true", help="skip apt-mirror's no-op runs")
    parser.add_argument("--profile", action="store_true",
                        help="then one more no-op under cProfile, and where its time goes")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mirrorkit-bench-apt-"))
    key = make_key(work, "bench")
    started = time.monotonic()
    suite = Suite(args.per_arch, key)
    print(f"generated {suite.stanzas} stanzas, {len(suite.pool)} pool files, "
          f"{len(suite.files)} index files in {time.monotonic() - started:.1f} s")
    up = on_port_80(Upstream()).start()
    suite.serve(up)
    listing = work / "mirror.list"
    listing.write_text(f"set nthreads 20\ndeb [arch=amd64,arm64 signed-by={key.keyring}] "
                       f"{up.url}/ubuntu jammy main universe\n")
    dest = args.keep or work / "mirror"
    try:
        first_s, first_cpu, first_mb, first = run(dest, listing)
        print(f"first run: {first_s:.1f} s (CPU {first_cpu:.1f} s), peak RSS {first_mb:.0f} MB, "
              f"{first['files']} files, {first['downloaded']} downloaded")
        up.clear_log()
        again_s, again_cpu, again_mb, again = run(dest, listing)
        print(f"first re-run (plans once more): {again_s:.2f} s (CPU {again_cpu:.2f} s), "
              f"peak RSS {again_mb:.0f} MB, {again['downloaded']} downloaded, "
              f"{len(up.log)} requests upstream")
        peer = None if args.no_peer else peer_listing(dest, work, up)
        ours: list[tuple[float, float, float]] = []
        theirs: list[tuple[float, float, float]] = []
        requests: list[int] = []
        conditional_only = True
        for round_no in range(1, args.rounds + 1):
            up.clear_log()
            wall, cpu, rss, noop = run(dest, listing)
            conditional = [r for r in up.log if "If-None-Match" in r.headers
                           or "If-Modified-Since" in r.headers]
            conditional_only &= len(conditional) == len(up.log) and noop["downloaded"] == 0
            ours.append((wall, cpu, rss))
            requests.append(len(up.log))
            print(f"round {round_no}: mirrorkit no-op {wall:.2f} s (CPU {cpu:.2f} s), peak RSS "
                  f"{rss:.0f} MB, {noop['files']} files, {noop['downloaded']} downloaded, "
                  f"{len(up.log)} requests upstream ({len(conditional)} conditional)")
            if peer is not None:
                up.clear_log()
                wall, cpu, rss = run_apt_mirror(peer)
                theirs.append((wall, cpu, rss))
                print(f"round {round_no}: apt-mirror no-op {wall:.2f} s (CPU {cpu:.2f} s), "
                      f"peak RSS {rss:.0f} MB, {len(up.log)} requests upstream")
        summary(ours, theirs, requests, conditional_only)
        if args.profile:
            profile_noop(dest, listing, work)
    finally:
        up.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def summary(ours: list[tuple[float, float, float]], theirs: list[tuple[float, float, float]],
            requests: list[int], conditional_only: bool) -> None:
    def med(rows: list[tuple[float, float, float]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    print("\n| tool | no-op wall s (median) | CPU s | peak RSS MB | requests upstream |")
    print("|---|---:|---:|---:|---:|")
    print(f"| mirrorkit | {med(ours, 0):.2f} | {med(ours, 1):.2f} | {max(r[2] for r in ours):.0f}"
          f" | {statistics.median(requests):.0f} |")
    if theirs:
        print(f"| apt-mirror | {med(theirs, 0):.2f} | {med(theirs, 1):.2f} | "
              f"{max(r[2] for r in theirs):.0f} | |")
    wall = med(ours, 0)
    ratio = wall / med(theirs, 0) if theirs else None
    if ratio is not None:
        print(f"mirrorkit/apt-mirror: {ratio:.2f}x the wall time, "
              f"{med(ours, 1) / med(theirs, 1):.2f}x the CPU time")
    met = wall < 1 and conditional_only and (ratio is None or ratio <= 0.2)
    print("targets (<= 0.2x apt-mirror, < 1 s, only conditional requests):",
          "met" if met else "NOT met", "" if theirs else "(no peer: the ratio is not checked)")


if __name__ == "__main__":
    main()
