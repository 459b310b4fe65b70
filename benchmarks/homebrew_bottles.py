"""The Homebrew bottle path: one tag's bottles from a Homebrew-shaped upstream, side by side.

    .venv/bin/python benchmarks/homebrew_bottles.py [--formulae 440] [--runs 3]
        [--parallel 16,64] [--latency-ms 20] [--upstream nginx|python|both]

The upstream is shaped like formulae.brew.sh + ghcr.io: the JSON API (JWS files), one OCI
image index per formula, a registry that answers ``Bearer QQ==`` with a ``401`` challenge
(``WWW-Authenticate: Bearer realm=...,service=...,scope=...``) and wants a token per
repository, every blob a ``307`` to a second host (the CDN, which refuses any
``Authorization``), and the same latency added to every request of every tool. Per bottle a
client makes five requests: manifest (401), token, manifest, blob (307), CDN.

Two servers give it, on loopback (``--upstream``, default both, rounds alternating):

- ``nginx``: one worker, the latency from the echo module (as in ``_harness.Nginx``);
- ``python``: an aiohttp server in a process of its own (``_brew_upstream.py``), sharing the
  machine's cores with the client, as users' test setups do. A client that spends more CPU
  per request loses more time here than against nginx.

Tools, rounds interleaved (medians shown, ratios only within one upstream):

- ``mirrorkit run homebrew --tag TAG`` with no limits given (``auto``), beside the naive
  script at 16 in flight;
- ``mirrorkit run homebrew --tag TAG --concurrency N --per-host N`` at every ``--parallel``;
- ``naive aiohttp``: a plain script doing the identical requests (API files, then per
  formula the token dance, manifest and blob, sha256 checked) with N requests in flight;
- ``aria2c -j N`` on the straight CDN URLs (no API, no manifests, no tokens: an easier job,
  for context);
- ``sequential``: the naive script with one request in flight, on a sample of formulae.

CPU is each command's own (``wait4``), the upstream's never counts.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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
    stop_process,
)
from homebrew_noop import KEY_ARGS, Synthetic, jws  # noqa: E402

TAG = "arm64_sequoia"
TOKEN = "bench-registry-token"
SERVERS = ("nginx", "python")
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
    """The files on disk and a server for them on two ports (registry+API, CDN).

    ``server``: ``nginx`` (one worker, the echo module's ``echo_sleep``) or ``python`` (an
    aiohttp server in a process of its own, ``_brew_upstream.py``: the same answers, and it
    competes with the client for the machine's cores, as a test server on a laptop does).
    """

    def __init__(self, root: Path, run: Path, formulae: int, delay_ms: float, *,
                 cdn_delay_ms: float | None = None, cdn_capacity: int | None = None,
                 server: str = "nginx") -> None:
        """``cdn_capacity``: requests the CDN serves at once; beyond, ``503`` +
        ``Retry-After: 1`` (nginx's ``limit_conn``; the nginx server only)."""
        if server not in SERVERS:
            raise ValueError(f"server: {server!r}, not one of {SERVERS}")
        if server != "nginx" and (cdn_capacity or cdn_delay_ms not in (None, delay_ms)):
            raise ValueError("a CDN capacity or a CDN delay of its own needs nginx")
        self.root, self.run, self.delay_ms, self.server = root, run, delay_ms, server
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
        if self.server == "python":
            self.proc = _start_python(self.root, self.run, self.registry, self.cdn,
                                      self.delay_ms)
            return self
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
        stop_process(self.proc)


def _start_python(root: Path, run: Path, registry: int, cdn: int, delay_ms: float
                  ) -> subprocess.Popen[bytes]:
    """``_brew_upstream.py`` on the two ports, once it says it listens (its stderr goes to
    ``run/error.log``, so that a chatty server can never block on a full pipe)."""
    log = run / "error.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([str(PYTHON), str(HERE / "_brew_upstream.py"), str(root),
                                 str(registry), str(cdn), f"{delay_ms:g}", TOKEN],
                                stdout=subprocess.PIPE, stderr=err)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.stdout.close()
    if line.strip() != b"ready":
        proc.kill()
        proc.wait(10)
        raise RuntimeError(f"the Python upstream did not start: {log.read_text()[-500:]}")
    return proc


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def _count_blobs(dest: Path, want: int) -> None:
    found = sum(1 for p in dest.rglob("sha256:*") if p.is_file())
    if found != want:
        raise RuntimeError(f"{dest}: {found} blobs, expected {want}")


AUTO = 0  # the "in flight" of the default run: mirrorkit chooses (``auto`` limits)
AUTO_VS = 16  # ... and the naive script's in-flight count it is compared with
Key = tuple[str, str, int]  # (upstream, tool, in flight)


@dataclass(slots=True)
class Job:
    """The files one upstream serves and what every tool needs to fetch them."""

    up: Upstream
    spec: Path
    sample: Path
    aria: Path


def _prepare(work: Path, server: str, args: argparse.Namespace) -> Upstream:
    return Upstream(work / server / "www", work / server / "run", args.formulae,
                    args.latency_ms, server=server)


def _job(up: Upstream, work: Path, sequential_sample: int) -> Job:
    bottles = up.bottles
    spec = work / "spec.json"
    body = {"api_url": up.api_url, "registry": up.registry_url,
            "api": ["formula.jws.json", "cask.jws.json", "formula_tap_migrations.jws.json",
                    "cask_tap_migrations.jws.json", f"internal/packages.{TAG}.jws.json"],
            "formulae": bottles}
    spec.write_text(json.dumps(body))
    sample = work / "sample.json"
    sample.write_text(json.dumps({**body, "formulae": bottles[:sequential_sample]}))
    aria = work / "aria2.txt"
    aria.write_text("".join(f"http://127.0.0.1:{up.cdn}/blobs/{b['sha256']}\n"
                            f"  out={b['sha256']}\n" for b in bottles))
    return Job(up, spec, sample, aria)


def _command(job: Job, tool: str, n: int, dest: Path, naive: Path,
             args: argparse.Namespace) -> tuple[list[str], int]:
    """The argv of one tool at ``n`` in flight, and how many blobs it must leave in ``dest``."""
    up, bottles = job.up, len(job.up.bottles)
    if tool == "mirrorkit":
        limits = [] if n == AUTO else ["--concurrency", str(n), "--per-host", str(n)]
        return [*mirrorkit_cmd("run", "homebrew", "--tag", TAG, "--dest", str(dest),
                               "--api-url", up.api_url, "--registry-url", up.registry_url,
                               "--json", *limits, *KEY_ARGS),
                *args.mirrorkit_args.split()], bottles
    if tool == "naive aiohttp":
        return [str(PYTHON), str(naive), str(job.spec), str(dest), str(n)], bottles
    if tool == "aria2c":
        return ["aria2c", "-i", str(job.aria), "-d", str(dest / "x/sha256:"), "-j", str(n),
                "--max-connection-per-server=1", "--split=1", "--file-allocation=none",
                "--allow-overwrite=true", "--console-log-level=error",
                "--summary-interval=0", "-q", *ARIA2_TUNING], 0
    return ([str(PYTHON), str(naive), str(job.sample), str(dest), "1"],
            min(args.sequential_sample, bottles))


def _rows(tools: list[str], levels: list[int], auto: bool) -> list[tuple[str, int]]:
    """One round's (tool, in flight), each mirrorkit row right beside the script it is
    compared with (A/B), so that a burst of background load lands on both."""
    rows: list[tuple[str, int]] = []
    if auto and "mirrorkit" in tools:
        rows += [("mirrorkit", AUTO), ("naive aiohttp", AUTO_VS)]
    for n in levels:
        rows += [(t, n) for t in ("mirrorkit", "naive aiohttp", "aria2c") if t in tools
                 and not (t == "naive aiohttp" and auto and n == AUTO_VS)]
    if "sequential" in tools:
        rows.append(("sequential", 1))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formulae", type=int, default=440)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", default="16,64",
                    help="in-flight counts mirrorkit is pinned to, beside the script's")
    ap.add_argument("--no-auto", action="store_true",
                    help=f"skip the default (auto) mirrorkit run against the script at "
                         f"{AUTO_VS}")
    ap.add_argument("--upstream", choices=(*SERVERS, "both"), default="both")
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--sequential-sample", type=int, default=60)
    ap.add_argument("--tools", default="mirrorkit,naive aiohttp,aria2c,sequential")
    ap.add_argument("--mirrorkit-args", default="",
                    help="extra flags for mirrorkit (e.g. to try a setting)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mirrorkit-bottles-"))
    tools = [t.strip() for t in args.tools.split(",")]
    levels = [int(p) for p in args.parallel.split(",") if p]
    servers = list(SERVERS) if args.upstream == "both" else [args.upstream]
    rows = _rows(tools, levels, not args.no_auto)
    naive = work / "naive.py"
    naive.write_text(NAIVE)
    dest, trash = work / "dest", work / "trash"
    results: dict[Key, list[Measurement]] = {}
    load: list[float] = []
    try:
        with contextlib.ExitStack() as stack:
            jobs = {s: _job(stack.enter_context(_prepare(work, s, args)), work / s,
                            args.sequential_sample) for s in servers}
            for r in range(args.runs):
                for server, job in jobs.items():  # upstreams alternate round by round too
                    for tool, n in rows:
                        set_aside(dest, trash)
                        argv, want = _command(job, tool, n, dest, naive, args)

                        def check(out: str, want: int = want, tool: str = tool) -> None:
                            if tool == "mirrorkit":
                                report = json.loads(out)
                                if report["status"] != "ok":
                                    raise RuntimeError(f"mirrorkit: {report['errors'][:2]}")
                            if want:
                                _count_blobs(dest, want)

                        m = measure(argv, env=_env(), check=check)
                        load.append(os.getloadavg()[0])
                        results.setdefault((server, tool, n), []).append(m)
                        print(f"[{time.strftime('%H:%M:%S')}] run {r + 1}/{args.runs} "
                              f"{server}: {tool} @{_flight(n)}: {m.wall_s:.2f}s, "
                              f"CPU {m.cpu_s:.2f}s", file=sys.stderr, flush=True)
            print(render(results, {s: len(j.up.bottles) for s, j in jobs.items()}, load,
                         args))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _flight(n: int) -> str:
    return "auto" if n == AUTO else str(n)


def _versus(tool: str, n: int) -> int | None:
    """The naive script's in-flight count a row is compared with."""
    if tool == "sequential":
        return None
    return AUTO_VS if n == AUTO else n


def render(results: dict[Key, list[Measurement]], bottles: dict[str, int], load: list[float],
           args: argparse.Namespace) -> str:
    """A table per upstream; ratios only ever within one upstream, from the same rounds."""
    def med(key: Key, what: str) -> float:
        return float(statistics.median(getattr(m, what) for m in results[key]))

    out = [f"{args.formulae} formulae ({BOTTLE_SIZE} bytes a bottle), {args.latency_ms:g} ms "
           f"added to every request, medians of {args.runs} runs; load average (1 min) "
           f"{min(load):.2f} to {max(load):.2f} after each command", ""]
    for server, count in bottles.items():
        out += [f"upstream: {server} ({count} bottles)", "",
                "| tool | in flight | wall s | CPU s | CPU ms/bottle | time / naive "
                "aiohttp at the same count | per round |", "|---|---|---:|---:|---:|---:|---|"]
        keys = [k for k in results if k[0] == server]
        for key in keys:
            _, tool, n = key
            files = min(args.sequential_sample, count) if tool == "sequential" else count
            wall, cpu = med(key, "wall_s"), med(key, "cpu_s")
            vs = _versus(tool, n)
            ratio, rounds = "-", ""
            base = (server, "naive aiohttp", vs) if vs is not None else None
            if base in results and base != key:
                assert base is not None
                ratio = f"{wall / med(base, 'wall_s'):.2f}x (vs @{vs})"
                rounds = ", ".join(f"{a.wall_s / b.wall_s:.2f}x"
                                   for a, b in zip(results[key], results[base], strict=False))
            out.append(f"| {tool} | {_flight(n)} | {wall:.2f} | {cpu:.2f} | "
                       f"{cpu / files * 1000:.2f} | {ratio} | {rounds} |")
        out += ["", f"targets on {server}:"]
        for n, vs, limit in ((AUTO, AUTO_VS, 1.0), (64, 64, 1.1)):  # the targets
            key, base = (server, "mirrorkit", n), (server, "naive aiohttp", vs)
            if key in results and base in results:
                value = med(key, "wall_s") / med(base, "wall_s")
                out.append(f"- mirrorkit @{_flight(n)} / naive aiohttp @{base[2]}: "
                           f"{value:.2f}x (target <= {limit}x) "
                           f"{'met' if value <= limit else 'NOT met'}")
        mk = [k for k in keys if k[1] == "mirrorkit"]
        if mk:
            worst = max(med(k, "cpu_s") / count * 1000 for k in mk)
            out.append(f"- mirrorkit CPU per bottle, worst row: {worst:.2f} ms (target <= 3.0) "
                       f"{'met' if worst <= 3.0 else 'NOT met'}")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
