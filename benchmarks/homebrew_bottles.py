"""The Homebrew bottle path: one tag's bottles from a Homebrew-shaped upstream, side by side.

    .venv/bin/python benchmarks/homebrew_bottles.py [--formulae 440] [--runs 3]
        [--parallel 16,64] [--latency-ms 20]

The upstream is nginx on loopback, shaped like formulae.brew.sh + ghcr.io: the JSON API
(JWS files), one OCI image index per formula, a registry that answers ``Bearer QQ==`` with a
``401`` challenge (``WWW-Authenticate: Bearer realm=...,service=...,scope=...``) and wants a
token per repository, every blob a ``307`` to a second host (the CDN, which refuses any
``Authorization``), and the same latency added to every request of every tool (nginx's echo
module, as in ``_harness.Nginx``). Per bottle a client makes five requests: manifest (401),
token, manifest, blob (307), CDN.

Tools, each at every in-flight count, rounds interleaved (medians shown):

- ``mirrorkit run homebrew --tag TAG --concurrency N --per-host N``;
- ``naive aiohttp``: a plain script doing the identical requests (API files, then per
  formula the token dance, manifest and blob, sha256 checked) with N requests in flight;
- ``aria2c -j N`` on the straight CDN URLs (no API, no manifests, no tokens: an easier job,
  for context);
- ``sequential``: the naive script with one request in flight, on a sample of formulae
  (its throughput is what is compared).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import (  # noqa: E402
    ARIA2_TUNING,
    ECHO_MODULE,
    NGINX_HEAD,
    PYTHON,
    Measurement,
    free_port,
    measure,
    mirrorkit_cmd,
    set_aside,
    start_nginx,
)
from homebrew_noop import KEY_ARGS, Synthetic, jws  # noqa: E402

TAG = "arm64_sequoia"
TOKEN = "bench-registry-token"
BOTTLE_SIZE = 20_000

NGINX_CONF = NGINX_HEAD + """\
    tcp_nopush on;
    default_type application/octet-stream;
    limit_conn_zone $server_port zone=cdncap:1m;
    # the registry and API host
    server {{
        listen 127.0.0.1:{registry};
        root {root};
        location /fast/ {{ internal; }}
        location /api/ {{ echo_sleep {delay}; echo_exec /fast$uri; }}
        location = /token {{ echo_sleep {delay}; echo_exec /fast/token.json; }}
        location /v2/ {{
            if ($http_authorization != "Bearer {token}") {{
                echo_sleep {delay};
                echo_exec @challenge;
            }}
            echo_sleep {delay};
            echo_exec @registry;
        }}
        location @challenge {{
            if ($uri ~ ^/v2/(.+)/(manifests|blobs)/) {{ set $repo $1; }}
            add_header WWW-Authenticate '{challenge}' always;
            return 401 '{{"errors":[{{"code":"UNAUTHORIZED"}}]}}';
        }}
        location @registry {{
            if ($uri ~ /blobs/sha256:([0-9a-f]+)$) {{
                return 307 http://127.0.0.1:{cdn}/blobs/$1?sig=abc;
            }}
            rewrite ^ /fast$uri last;
        }}
    }}
    # the blob CDN
    server {{
        listen 127.0.0.1:{cdn};
        root {root};
        location /fast/ {{ internal; }}
        {cdn_cap}
        location /blobs/ {{
            if ($http_authorization) {{ return 400 'no credentials here'; }}
            echo_sleep {cdn_delay};
            echo_exec /fast$uri;
        }}
        location @busy {{
            add_header Retry-After 1 always;
            return 503 'over capacity';
        }}
    }}
}}
"""

# The naive script: what a person would write in forty lines with aiohttp.
NAIVE = r'''
import asyncio, hashlib, json, os, re, sys
import aiohttp

async def main(spec_file, dest, parallel):
    spec = json.load(open(spec_file))
    sem = asyncio.Semaphore(parallel)
    tokens = {}

    async def get(session, url, headers=None):
        async with sem:
            async with session.get(url, headers=headers or {}) as r:
                return r.status, r.headers, await r.read()

    def save(path, body):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(body)

    async def authed(session, repo, url):
        bearer = {"Authorization": "Bearer " + tokens.get(repo, "QQ==")}
        status, headers, body = await get(session, url, bearer)
        if status == 401:
            ch = dict(re.findall(r'(\w+)="([^"]*)"', headers["WWW-Authenticate"]))
            query = f"service={ch['service']}&scope={ch['scope']}"
            _, _, tok = await get(session, f"{ch['realm']}?{query}")
            tokens[repo] = json.loads(tok)["token"]
            bearer = {"Authorization": "Bearer " + tokens[repo]}
            status, headers, body = await get(session, url, bearer)
        assert status == 200, (url, status)
        return body

    async def formula(session, f):
        repo = f"{spec['registry']}/{f['image']}"
        manifest = await authed(session, repo, f"{repo}/manifests/{f['tag']}")
        save(f"{dest}/v2/{f['image']}/manifests/{f['tag']}", manifest)
        blob = await authed(session, repo, f"{repo}/blobs/sha256:{f['sha256']}")
        assert hashlib.sha256(blob).hexdigest() == f["sha256"]
        save(f"{dest}/v2/{f['image']}/blobs/sha256:{f['sha256']}", blob)

    async with aiohttp.ClientSession() as session:
        for name in spec["api"]:
            _, _, body = await get(session, f"{spec['api_url']}/{name}")
            save(f"{dest}/api/{name}", body)
        await asyncio.gather(*(formula(session, f) for f in spec["formulae"]))
    print(len(spec["formulae"]))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
'''


class Upstream:
    """The files on disk and nginx serving them on two ports (registry+API, CDN)."""

    def __init__(self, root: Path, run: Path, formulae: int, delay_ms: float, *,
                 cdn_delay_ms: float | None = None, cdn_capacity: int | None = None) -> None:
        """``cdn_capacity``: requests the CDN serves at once; beyond, ``503`` +
        ``Retry-After: 1`` (nginx's ``limit_conn``)."""
        self.root, self.run, self.delay_ms = root, run, delay_ms
        self.cdn_delay_ms = delay_ms if cdn_delay_ms is None else cdn_delay_ms
        self.cdn_capacity = cdn_capacity
        self.registry, self.cdn = free_port(), free_port()
        self.bottles: list[dict[str, str]] = []
        self._build(formulae)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.registry}/api"

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.registry}/v2/homebrew/core"

    def _build(self, count: int) -> None:
        syn = Synthetic(count)
        fast = self.root / "fast"
        for f in syn.formulae:  # bottles of a realistic small size, one per tag
            if "all" not in f["files"]:
                f["files"].setdefault(TAG, "")  # every formula has a bottle for the tag
            for tag in list(f["files"]):
                seed = f"{f['name']} {tag}".encode()
                body = (hashlib.sha256(seed).digest() * (BOTTLE_SIZE // 32 + 1))[:BOTTLE_SIZE]
                sha = hashlib.sha256(body).hexdigest()
                f["files"][tag] = sha
                syn.blobs[sha] = body
        api = fast / "api"
        (api / "internal").mkdir(parents=True, exist_ok=True)
        (api / "formula.jws.json").write_bytes(jws([syn.legacy(f) for f in syn.formulae]))
        (api / "cask.jws.json").write_bytes(jws([]))
        (api / "formula_tap_migrations.jws.json").write_bytes(jws({}))
        (api / "cask_tap_migrations.jws.json").write_bytes(jws({}))
        (api / f"internal/packages.{TAG}.jws.json").write_bytes(jws({
            "metadata": {"bottle_tag": TAG},
            "formulae": {f["name"]: syn.internal(f, TAG) for f in syn.formulae},
            "casks": {}, "formula_aliases": {}, "formula_renames": {}}))
        (fast / "token.json").write_text(json.dumps({"token": TOKEN}))
        blobs = fast / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        for f in syn.formulae:
            path, body = syn.manifest(f)
            target = fast / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            served = syn.internal(f, TAG).get("bottle_checksum")
            if served is None:
                continue
            (blobs / served).write_bytes(syn.blobs[served])
            self.bottles.append({"image": f["name"].replace("@", "/"),
                                 "tag": path.rsplit("/", 1)[1], "sha256": served})

    def __enter__(self) -> Upstream:
        (self.run / "tmp").mkdir(parents=True, exist_ok=True)
        conf = self.run / "nginx.conf"
        conf.write_text(NGINX_CONF.format(
            echo_module=ECHO_MODULE, run=self.run, root=self.root, registry=self.registry,
            cdn=self.cdn, token=TOKEN, delay=f"{self.delay_ms / 1000:.3f}",
            cdn_delay=f"{self.cdn_delay_ms / 1000:.3f}",
            cdn_cap=(f"limit_conn cdncap {self.cdn_capacity}; limit_conn_status 503; "
                     "error_page 503 @busy;") if self.cdn_capacity else "",
            challenge=f'Bearer realm="http://127.0.0.1:{self.registry}/token",service="bench",'
                      'scope="repository:$repo:pull"'))
        self.proc = start_nginx(conf, self.run, self.cdn)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def _count_blobs(dest: Path, want: int) -> None:
    found = sum(1 for p in dest.rglob("sha256:*") if p.is_file())
    if found != want:
        raise RuntimeError(f"{dest}: {found} blobs, expected {want}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formulae", type=int, default=440)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", default="16,64")
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--sequential-sample", type=int, default=60)
    ap.add_argument("--tools", default="mirrorkit,naive aiohttp,aria2c,sequential")
    ap.add_argument("--mirrorkit-args", default="",
                    help="extra flags for mirrorkit (e.g. to try a setting)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mirrorkit-bottles-"))
    tools = [t.strip() for t in args.tools.split(",")]
    levels = [int(p) for p in args.parallel.split(",")]
    try:
        with Upstream(work / "www", work / "nginx", args.formulae, args.latency_ms) as up:
            bottles = up.bottles
            spec = work / "spec.json"
            spec.write_text(json.dumps({
                "api_url": up.api_url, "registry": up.registry_url,
                "api": ["formula.jws.json", "cask.jws.json", "formula_tap_migrations.jws.json",
                        "cask_tap_migrations.jws.json", f"internal/packages.{TAG}.jws.json"],
                "formulae": bottles}))
            sample = work / "sample.json"
            sample.write_text(json.dumps({**json.loads(spec.read_text()),
                                          "formulae": bottles[:args.sequential_sample]}))
            naive = work / "naive.py"
            naive.write_text(NAIVE)
            aria = work / "aria2.txt"
            aria.write_text("".join(f"http://127.0.0.1:{up.cdn}/blobs/{b['sha256']}\n"
                                    f"  out={b['sha256']}\n" for b in bottles))
            dest, trash = work / "dest", work / "trash"
            results: dict[tuple[str, int], list[Measurement]] = {}
            rows = [(t, n) for n in levels for t in tools if t != "sequential"]
            if "sequential" in tools:
                rows.append(("sequential", 1))
            for r in range(args.runs):
                for tool, n in rows:
                    set_aside(dest, trash)
                    if tool == "mirrorkit":
                        argv: list[str] | str = [
                            *mirrorkit_cmd("run", "homebrew", "--tag", TAG, "--dest",
                                           str(dest), "--api-url", up.api_url,
                                           "--registry-url", up.registry_url, "--json",
                                           "--concurrency", str(n), "--per-host", str(n),
                                           *KEY_ARGS),
                            *args.mirrorkit_args.split()]
                        want = len(bottles)
                    elif tool == "naive aiohttp":
                        argv, want = [str(PYTHON), str(naive), str(spec), str(dest), str(n)], len(
                            bottles)
                    elif tool == "aria2c":
                        argv = ["aria2c", "-i", str(aria), "-d", str(dest / "x/sha256:"),
                                "-j", str(n), "--max-connection-per-server=1", "--split=1",
                                "--file-allocation=none", "--allow-overwrite=true",
                                "--console-log-level=error", "--summary-interval=0", "-q",
                                *ARIA2_TUNING]
                        want = 0
                    else:
                        argv = [str(PYTHON), str(naive), str(sample), str(dest), "1"]
                        want = min(args.sequential_sample, len(bottles))

                    def check(out: str, want: int = want, tool: str = tool) -> None:
                        if tool == "mirrorkit":
                            report = json.loads(out)
                            if report["status"] != "ok":
                                raise RuntimeError(f"mirrorkit: {report['errors'][:2]}")
                        if want:
                            _count_blobs(dest, want)

                    m = measure(argv, env=_env(), check=check)
                    results.setdefault((tool, n), []).append(m)
                    print(f"[{time.strftime('%H:%M:%S')}] run {r + 1}/{args.runs} {tool} "
                          f"@{n}: {m.wall_s:.2f}s, CPU {m.cpu_s:.2f}s", file=sys.stderr,
                          flush=True)
            print(render(results, len(bottles), args))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render(results: dict[tuple[str, int], list[Measurement]], bottles: int,
           args: argparse.Namespace) -> str:
    def med(tool: str, n: int, what: str) -> float:
        return float(statistics.median(getattr(m, what) for m in results[(tool, n)]))

    out = [f"{bottles} bottles ({BOTTLE_SIZE} bytes each), {args.latency_ms:g} ms added to "
           f"every request, medians of {args.runs} runs", "",
           "| tool | in flight | wall s | bottles/s | CPU s | CPU ms/bottle | "
           "mirrorkit time / this |", "|---|---:|---:|---:|---:|---:|---:|"]
    for (tool, n) in results:
        count = min(args.sequential_sample, bottles) if tool == "sequential" else bottles
        wall, cpu = med(tool, n, "wall_s"), med(tool, n, "cpu_s")
        mk_n = n if ("mirrorkit", n) in results else None
        if tool == "sequential" and results.get(("mirrorkit", max(
                k[1] for k in results if k[0] == "mirrorkit"))) is not None:
            mk_n = min(k[1] for k in results if k[0] == "mirrorkit")
        ratio = "-"
        if mk_n is not None and ("mirrorkit", mk_n) in results:
            mk_rate = bottles / med("mirrorkit", mk_n, "wall_s")
            ratio = f"{(count / wall) / mk_rate:.2f}x"
            if tool == "sequential":
                ratio += f" (mirrorkit @{mk_n} is {mk_rate / (count / wall):.1f}x faster)"
        out.append(f"| {tool} | {n} | {wall:.2f} | {count / wall:.0f} | {cpu:.2f} | "
                   f"{cpu / count * 1000:.2f} | {ratio} |")
    out += ["", "targets:"]
    for (tool, n) in results:
        if tool == "naive aiohttp" and ("mirrorkit", n) in results:
            value = med("mirrorkit", n, "wall_s") / med(tool, n, "wall_s")
            out.append(f"- mirrorkit time / naive aiohttp @{n}: {value:.2f}x (target <= 1.0x) "
                       f"{'met' if value <= 1.0 else 'NOT met'}")
    if ("sequential", 1) in results:
        seq_rate = min(args.sequential_sample, bottles) / med("sequential", 1, "wall_s")
        for (tool, n) in results:
            if tool == "mirrorkit":
                value = bottles / med(tool, n, "wall_s") / seq_rate
                out.append(f"- mirrorkit @{n} vs sequential: {value:.1f}x faster (target >= "
                           f"10x) {'met' if value >= 10 else 'NOT met'}")
    return "\n".join(out)


if __name__ == "__main__":
    main()
