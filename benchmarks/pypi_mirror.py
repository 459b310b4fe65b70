"""mirrorkit's PyPI plugin against bandersnatch, on one loopback index with 20 ms a request.

    .venv/bin/python benchmarks/pypi_mirror.py [--projects 400] [--versions 3] [--runs 3]
        [--plan-projects 5000,50000] [--workdir /var/tmp/mirrorkit-bench-pypi]

The upstream is nginx (with the echo module for the delay) serving a synthetic index the way
pypi.org does: the PEP 691 JSON root with serials (``/simple/``), a JSON or HTML page per
project by ``Accept``, the JSON API bandersnatch reads (``/pypi/<name>/json``), and under
``/packages/`` one wheel and its PEP 658 ``.metadata`` file per version. Every request,
from either tool, waits 20 ms before its first byte.

Scenarios, each tool once per round, rounds interleaved:

* first mirror of every project (an allowlist of all of them for bandersnatch,
  ``--requirements`` naming all of them for mirrorkit) into an empty directory;
* no-op re-run of that mirror with nothing changed upstream;
* planning memory: ``mirrorkit run pypi --dry-run`` over generated indexes of several
  sizes (one file a project, no delay), peak RSS of the process, to show how memory grows
  with the number of projects.

bandersnatch 8 needs Python 3.12 or newer: the first ``python3.1[2-9]`` found on PATH or in
pyenv's versions gets a venv under the work directory with bandersnatch from PyPI. Its
settings: ``workers = 10``, ``allow-non-https = true`` (the upstream is plain HTTP),
``core-metadata = true`` (so both tools mirror the same files), ``json = false``.
mirrorkit runs with ``--concurrency 64 --per-host 64``.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    ECHO_MODULE,
    NGINX_HEAD,
    Measurement,
    ensure_debian_packages,
    free_port,
    measure,
    mirrorkit_cmd,
    set_aside,
    start_nginx,
    stop_process,
)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
BANDERSNATCH = "bandersnatch>=8,<9"

NGINX_CONF = NGINX_HEAD + """\
    open_file_cache max=16000 inactive=60s;
    types {{ {json_type} v1_json; text/html html; }}
    default_type application/octet-stream;
    # the page a client asked for by Accept: PEP 691 JSON, else PEP 503 HTML
    map $http_accept $simple_index {{
        default index.html;
        "~application/vnd\\.pypi\\.simple\\.v1\\+json" index.v1_json;
    }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        add_header X-PyPI-Last-Serial {serial} always;
        location /fast/ {{ internal; index $simple_index; }}
        location = /fast/simple {{ internal; rewrite ^ /fast/simple/ last; }}
        location /fast/pypi/ {{ internal; default_type application/json; }}
        location /nodelay/ {{ index $simple_index; }}
        location / {{
            echo_sleep {delay_s};
            echo_exec /fast$uri;
        }}
    }}
}}
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------- upstream
def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def build_index(root: Path, base_url: str, prefix: str, projects: int, versions: int,
                *, json_api: bool, size: tuple[int, int] = (3000, 20000)) -> int:
    """Write a synthetic index under ``root`` (files once, pages each time); returns the
    serial. ``prefix`` is the URL path the files are served under."""
    rnd = random.Random(projects * 1000 + versions)
    serial = 0
    root_projects = []
    for i in range(projects):
        name = f"proj-{i:05d}"
        module = name.replace("-", "_")
        files = []
        releases: dict[str, list[dict[str, object]]] = {}
        for v in range(versions):
            version = f"1.{v}.0"
            filename = f"{module}-{version}-py3-none-any.whl"
            meta = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n").encode()
            blake = hashlib.blake2b(f"{name}/{filename}".encode(), digest_size=32).hexdigest()
            rel = f"packages/{blake[:2]}/{blake[2:4]}/{blake[4:]}/{filename}"
            path = root / rel
            if not path.exists() or not path.with_name(filename + ".metadata").exists():
                _write(path, rnd.randbytes(rnd.randint(*size)))
                _write(path.with_name(filename + ".metadata"), meta)
            body = path.read_bytes()
            sha = hashlib.sha256(body).hexdigest()
            meta_sha = hashlib.sha256(meta).hexdigest()
            serial += 1
            url = f"{base_url}{prefix}/{rel}"
            files.append({"filename": filename, "url": url, "hashes": {"sha256": sha},
                          "requires-python": ">=3.8", "yanked": False,
                          "core-metadata": {"sha256": meta_sha},
                          "dist-info-metadata": {"sha256": meta_sha}, "size": len(body),
                          "upload-time": "2026-01-01T00:00:00.000000Z"})
            releases[version] = [{
                "filename": filename, "url": url, "digests": {"sha256": sha},
                "size": len(body), "packagetype": "bdist_wheel", "python_version": "py3",
                "requires_python": ">=3.8", "yanked": False, "yanked_reason": None,
                "upload_time_iso_8601": "2026-01-01T00:00:00.000000Z",
                "core-metadata": {"sha256": meta_sha},
            }]
        page = {"meta": {"api-version": "1.1", "_last-serial": serial}, "name": name,
                "files": files, "versions": [f"1.{v}.0" for v in range(versions)]}
        _write(root / "simple" / name / "index.v1_json", json.dumps(page).encode())
        links = "".join(f'<a href="{f["url"]}#sha256={f["hashes"]["sha256"]}" '  # type: ignore[index]
                        f'data-requires-python="&gt;=3.8">{f["filename"]}</a><br/>\n'
                        for f in files)
        _write(root / "simple" / name / "index.html",
               f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode())
        if json_api:
            _write(root / "pypi" / name / "json", json.dumps({
                "info": {"name": name, "version": f"1.{versions - 1}.0"},
                "last_serial": serial, "releases": releases, "urls": [],
            }).encode())
        root_projects.append({"name": name, "_last-serial": serial})
    _write(root / "simple" / "index.v1_json", json.dumps(
        {"meta": {"api-version": "1.1", "_last-serial": serial},
         "projects": root_projects}).encode())
    _write(root / "simple" / "index.html", ("<!DOCTYPE html><html><body>\n" + "".join(
        f'<a href="{p["name"]}/">{p["name"]}</a><br/>\n' for p in root_projects)
        + "</body></html>\n").encode())
    return serial


class Upstream:
    def __init__(self, root: Path, run_dir: Path, serial: int, port: int,
                 delay_ms: float) -> None:
        self.root, self.run_dir, self.serial, self.port = root, run_dir, serial, port
        self.delay_ms = delay_ms
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Upstream:
        (self.run_dir / "tmp").mkdir(parents=True, exist_ok=True)
        conf = self.run_dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(
            echo_module=ECHO_MODULE, run=self.run_dir, port=self.port, root=self.root,
            serial=self.serial, json_type=JSON_TYPE, delay_s=f"{self.delay_ms / 1000:.3f}"))
        self.proc = start_nginx(conf, self.run_dir, self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc)


# ------------------------------------------------------------------- bandersnatch
def find_python312() -> str | None:
    """A working Python 3.12+ for bandersnatch 8: on PATH, else one of pyenv's versions
    (pyenv's shims are on PATH but fail unless that version is selected: each candidate is
    tried)."""
    cands = [shutil.which(f"python3.{minor}") for minor in range(19, 11, -1)]
    for root in filter(None, [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]):
        cands += sorted(glob.glob(f"{root}/versions/3.1[2-9]*/bin/python3"), reverse=True)
    for cand in filter(None, cands):
        ok = subprocess.run([cand, "-c", "import sys, venv; assert sys.version_info >= (3, 12)"],
                            capture_output=True).returncode == 0
        if ok:
            return cand
    return None


def bandersnatch_venv(workdir: Path) -> Path:
    venv = workdir / "bandersnatch-venv"
    exe = venv / "bin" / "bandersnatch"
    if exe.exists():
        return exe
    python = find_python312()
    if python is None:
        sys.exit("benchmarks: bandersnatch 8 needs Python 3.12+ and none was found on PATH "
                 "or in pyenv's versions")
    log(f"installing {BANDERSNATCH} into {venv} with {python}")
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", BANDERSNATCH], check=True)
    return exe


def bandersnatch_conf(path: Path, directory: Path, master: str, names: list[str]) -> None:
    allow = "\n".join(f"    {n}" for n in names)
    path.write_text(f"""[mirror]
directory = {directory}
master = {master}
allow-non-https = true
json = false
release-files = true
core-metadata = true
hash-index = false
simple-format = ALL
compare-method = hash
stop-on-error = true
timeout = 30
global-timeout = 3600
workers = 10
verifiers = 3

[plugins]
enabled =
    allowlist_project

[allowlist]
packages =
{allow}
""")


# ------------------------------------------------------------------------- checks
def count_files(root: Path, suffix: str) -> int:
    return sum(1 for _ in root.rglob(f"*{suffix}"))


def check_mirror(tool: str, root: Path, projects: int, versions: int) -> None:
    wheels = count_files(root, ".whl")
    meta = count_files(root, ".whl.metadata")
    pages = sum(1 for _ in (root / "simple").glob("*/index.html"))
    expected = projects * versions
    if wheels != expected or meta != expected or pages != projects:
        raise RuntimeError(f"{tool} mirrored {wheels} wheels, {meta} metadata files and "
                           f"{pages} pages; expected {expected}, {expected}, {projects}")


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--projects", type=int, default=400)
    ap.add_argument("--versions", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--plan-projects", default="5000,50000",
                    help="index sizes for the planning-memory runs ('' to skip)")
    ap.add_argument("--workdir", type=Path, default=Path("/var/tmp/mirrorkit-bench-pypi"))
    args = ap.parse_args()
    ensure_debian_packages(log)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    trash = work / "trash"
    exe = bandersnatch_venv(work)
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    log(f"{(version.stdout or version.stderr).strip()}; mirrorkit from {Path.cwd()}")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    up_root = work / "upstream"
    tree = up_root / "fast"
    log(f"index of {args.projects} projects x {args.versions} versions")
    serial = build_index(tree, base, "", args.projects, args.versions, json_api=True)
    names = [f"proj-{i:05d}" for i in range(args.projects)]
    reqs = work / "requirements.txt"
    reqs.write_text("".join(n + "\n" for n in names))
    first: dict[str, list[Measurement]] = {"bandersnatch": [], "mirrorkit": []}
    noop: dict[str, list[Measurement]] = {"bandersnatch": [], "mirrorkit": []}
    out = work / "out"
    with Upstream(up_root, work / "nginx", serial, port, args.delay_ms) as up:
        def command(tool: str, dest: Path) -> list[str]:
            if tool == "bandersnatch":
                conf = work / "bandersnatch.conf"
                bandersnatch_conf(conf, dest, up.url, names)
                return [str(exe), "-c", str(conf), "mirror"]
            return mirrorkit_cmd("run", "pypi", "--dest", str(dest), "--index-url",
                                 f"{up.url}/simple/", "--requirements", str(reqs),
                                 "--concurrency", "64", "--per-host", "64")

        for r in range(args.runs):
            for tool in ("bandersnatch", "mirrorkit"):
                dest = out / tool
                set_aside(dest, trash)
                m = measure(command(tool, dest))
                served = dest / "web" if tool == "bandersnatch" else dest
                check_mirror(tool, served, args.projects, args.versions)
                first[tool].append(m)
                log(f"first mirror {r + 1}/{args.runs} {tool}: {m.wall_s:.2f}s "
                    f"(cpu {m.cpu_s:.2f}s, {m.max_rss_mb:.0f} MB)")
            for tool in ("bandersnatch", "mirrorkit"):
                m = measure(command(tool, out / tool))
                noop[tool].append(m)
                log(f"no-op {r + 1}/{args.runs} {tool}: {m.wall_s:.3f}s "
                    f"(cpu {m.cpu_s:.2f}s, {m.max_rss_mb:.0f} MB)")
    shutil.rmtree(trash, ignore_errors=True)

    plan_rows = []
    for count in [int(x) for x in args.plan_projects.split(",") if x.strip()]:
        plan_rows.append((count, plan_memory(work, count)))

    print(f"\nPyPI: {args.projects} projects x {args.versions} versions (a wheel and its "
          f".metadata each), {args.delay_ms:g} ms per request, median of {args.runs}")
    print(f"{'scenario':<14}{'bandersnatch':>14}{'mirrorkit':>12}{'ratio':>8}{'target':>9}")
    for label, rows in (("first mirror", first), ("no-op re-run", noop)):
        b = statistics.median(m.wall_s for m in rows["bandersnatch"])
        k = statistics.median(m.wall_s for m in rows["mirrorkit"])
        print(f"{label:<14}{b:>13.3f}s{k:>11.3f}s{k / b:>7.2f}x{'<=0.50x':>9}")
    for label, rows in (("first mirror", first), ("no-op re-run", noop)):
        for tool in ("bandersnatch", "mirrorkit"):
            cpu = statistics.median(m.cpu_s for m in rows[tool])
            rss = max(m.max_rss_mb for m in rows[tool])
            print(f"  {label} {tool}: cpu {cpu:.2f}s, peak RSS {rss:.0f} MB")
    for count, m in plan_rows:
        print(f"planning {count} projects (dry run, no delay): {m.wall_s:.1f}s, "
              f"peak RSS {m.max_rss_mb:.0f} MB")


def plan_memory(work: Path, count: int) -> Measurement:
    """Peak RSS of a dry run over ``count`` one-file projects (pages fetched, no files)."""
    port = free_port()
    root = work / f"plan-{count}"
    tree = root / "fast"
    log(f"planning memory: index of {count} projects")
    serial = build_index(tree, f"http://127.0.0.1:{port}", "/nodelay", count, 1,
                         json_api=False, size=(100, 100))
    (root / "nodelay").mkdir(exist_ok=True)
    for sub in ("simple", "packages"):
        link = root / "nodelay" / sub
        if not link.exists():
            link.symlink_to(tree / sub)
    reqs = work / f"requirements-{count}.txt"
    reqs.write_text("".join(f"proj-{i:05d}\n" for i in range(count)))
    with Upstream(root, work / f"nginx-{count}", serial, port, 0) as up:
        m = measure(mirrorkit_cmd("run", "pypi", "--dry-run", "--dest", str(work / "plan-dest"),
                                  "--index-url", f"{up.url}/nodelay/simple/",
                                  "--requirements", str(reqs), "--concurrency", "64",
                                  "--per-host", "64"), timeout=3600)
    log(f"planning {count}: {m.wall_s:.1f}s, peak RSS {m.max_rss_mb:.0f} MB")
    return m


if __name__ == "__main__":
    main()
