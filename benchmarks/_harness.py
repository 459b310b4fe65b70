"""Shared machinery of the benchmarks: measuring a command, serving files, installing peers.

Every tool is measured the same way: one child process (a shell for pipelines), its wall time
from the parent's clock, its CPU time and peak RSS from ``wait4``'s rusage (which covers the
child and every descendant it waited for). Numbers from different tools are only compared
within one run of the harness, on the same machine, interleaved round by round, so that
background noise lands on every tool alike.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ARIA2_TUNING",
    "REPO",
    "Measurement",
    "Nginx",
    "Row",
    "cached_index",
    "ensure_debian_packages",
    "free_port",
    "measure",
    "mirrorkit_cmd",
    "run_rounds",
    "set_aside",
]

REPO = Path(__file__).resolve().parent.parent
# the project's venv; from a git worktree without one, the interpreter running the harness
PYTHON = REPO / ".venv" / "bin" / "python"
if not PYTHON.exists():
    PYTHON = Path(sys.executable)


@dataclass(frozen=True, slots=True)
class Measurement:
    wall_s: float
    cpu_s: float
    max_rss_mb: float


@dataclass(slots=True)
class Row:
    """One tool in one scenario: every run's measurement plus what one run moves."""

    scenario: str
    tool: str
    command: str
    work_bytes: int = 0          # bytes one run moves (downloads, hashes, packs)
    work_files: int = 0
    runs: list[Measurement] = field(default_factory=list)
    is_mirrorkit: bool = False
    note: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(m.wall_s for m in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(m.cpu_s for m in self.runs)

    @property
    def rss(self) -> float:
        return max(m.max_rss_mb for m in self.runs)

    @property
    def mb_per_s(self) -> float:
        return self.work_bytes / 1e6 / self.wall if self.runs else 0.0

    @property
    def files_per_s(self) -> float:
        return self.work_files / self.wall if self.runs else 0.0

    @property
    def cpu_per_gb(self) -> float:
        return self.cpu / (self.work_bytes / 1e9) if self.work_bytes else 0.0


def measure(
    argv: Sequence[str] | str,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: Callable[[str], None] | None = None,
    timeout: float = 3600,
) -> Measurement:
    """Run one command to completion and measure it; raise if it fails.

    ``argv`` as a string runs through ``bash -c`` (pipelines, loops). ``check`` receives the
    command's stdout and raises when the tool did not do the whole job, so that a tool which
    fails quickly can never look fast.
    """
    if isinstance(argv, str):
        argv = ["bash", "-c", "set -eo pipefail; " + argv]
    subprocess.run(["sync"], check=False)  # start from clean dirty-page state
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # read pipes without deadlocking, then reap with wait4 for the rusage
    out, err = _drain(proc, timeout)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = (err or out).strip().splitlines()[-5:]
        raise RuntimeError(
            f"{_short(argv)} exited {proc.returncode}: " + " | ".join(tail)
        )
    if check is not None:
        check(out)
    return Measurement(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
    )


def _drain(proc: subprocess.Popen[bytes], timeout: float) -> tuple[str, str]:
    """Collect stdout/stderr like ``communicate`` but leave the child unreaped for ``wait4``."""
    import selectors

    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    sel = selectors.DefaultSelector()
    for f in (proc.stdout, proc.stderr):
        sel.register(f, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while sel.get_map():
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            raise TimeoutError(f"{_short(proc.args)} took longer than {timeout:.0f}s")
        for key, _ in sel.select(min(left, 1.0)):
            chunk = os.read(key.fd, 65536)
            if chunk:
                bufs[key.fd] += chunk
            else:
                sel.unregister(key.fileobj)
    proc.stdout.close()
    proc.stderr.close()
    return bufs[out_fd].decode(errors="replace"), bufs[err_fd].decode(errors="replace")


def _short(argv: object) -> str:
    text = " ".join(argv) if isinstance(argv, list | tuple) else str(argv)
    return text if len(text) < 120 else text[:117] + "..."


def mirrorkit_cmd(*args: str) -> list[str]:
    """The real CLI, as a user runs it (``python -m mirrorkit``), from the project's venv."""
    _compile_bytecode()
    return [str(PYTHON), "-m", "mirrorkit", *args]


_COMPILED = False


def _compile_bytecode() -> None:
    """Byte-compile mirrorkit and the example plugin once, as ``pip install`` does.

    An editable install under ``PYTHONDONTWRITEBYTECODE`` (set in some CI images) would
    otherwise compile about 80 modules from source on every run: 0.2 s of start-up that no
    installed copy pays.
    """
    global _COMPILED
    if not _COMPILED:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([str(PYTHON), "-m", "compileall", "-q", "mirrorkit", "examples"],
                       cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
        _COMPILED = True


def run_rounds(
    rows: Sequence[Row],
    runs: int,
    command: Callable[[str], tuple[list[str] | str, Callable[[str], None] | None]],
    *,
    label: str,
    rate: Callable[[Row, Measurement], str],
    log: Callable[[str], None],
    before_each: Callable[[], None] = lambda: None,
) -> None:
    """Measure every tool once per round, rounds interleaved, so that background noise lands
    on every tool alike; ``command(tool)`` gives the argv and the output check."""
    for r in range(runs):
        for row in rows:
            argv, check = command(row.tool)
            before_each()
            m = measure(argv, check=check)
            row.runs.append(m)
            log(f"{label} run {r + 1}/{runs} {row.tool}: {m.wall_s:.2f}s ({rate(row, m)})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------ peers
PEERS = {
    "aria2c": "aria2",
    "curl": "curl",
    "wget": "wget",
    "nginx": "nginx-light",
    "sha256sum": "coreutils",
    "tar": "tar",
    "split": "coreutils",
    "gzip": "gzip",
}
# Flags that made aria2c faster here (no IPv6 lookups, no threaded resolver, no session
# autosave, no user config): the peer gets its best settings, not its defaults.
ARIA2_TUNING = ["--disable-ipv6=true", "--async-dns=false", "--auto-save-interval=0",
                "--no-conf=true"]
ECHO_MODULE = Path("/usr/share/nginx/modules/ngx_http_echo_module.so")


def ensure_debian_packages(log: Callable[[str], None]) -> None:
    """Install missing peers from Debian's packages (we run as root on a Debian image)."""
    missing = sorted({pkg for tool, pkg in PEERS.items() if shutil.which(tool) is None})
    if not ECHO_MODULE.exists():
        missing.append("libnginx-mod-http-echo")
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"benchmarks: missing {', '.join(missing)}; install them (apt-get install) "
                 "or run as root")
    log(f"installing {' '.join(missing)} from Debian")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def tool_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for tool, flag in (("aria2c", "--version"), ("curl", "--version"), ("wget", "--version"),
                       ("nginx", "-v"), ("sha256sum", "--version"), ("tar", "--version")):
        try:
            res = subprocess.run([tool, flag], capture_output=True, text=True, check=False)
        except FileNotFoundError:
            continue
        line = (res.stdout or res.stderr).strip().splitlines()
        out[tool] = line[0] if line else "?"
    return out


def measure_json(cmd: list[str]) -> tuple[float, float, float, dict[str, Any]]:
    """One command printing a JSON report: (wall s, CPU s, peak RSS MB, report).

    CPU and peak RSS are the child's own (``wait4``), so the harness's own work never counts.
    A non-zero exit ends the benchmark with the report's first errors.
    """
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    with tempfile.TemporaryFile() as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - started
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    try:
        report = json.loads(text or b"{}")
    except ValueError:
        report = {}
    if code != 0:
        raise SystemExit(f"{cmd[:4]} exited {code}: {report.get('errors', [])[:3]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, report


# ------------------------------------------------------------------------ nginx
#: What every benchmark's nginx shares (a ``str.format`` template, like the rest): one worker
#: in the foreground with the echo module, no access log, long keep-alive. A scenario's
#: template goes on with its own ``http`` directives and servers, and closes the block.
NGINX_HEAD = """\
load_module {echo_module};
user root;
worker_processes 1;
daemon off;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {run}/tmp;
"""

NGINX_CONF = NGINX_HEAD + """\
    tcp_nopush on;
    # cached descriptors stay open: keep them under the 20,000 files a process may open
    open_file_cache max=16000 inactive=60s;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        # /fast/<path>: straight from disk (page cache) over loopback
        location /fast/ {{ }}
        # /slow/<path>: the same file after {delay_ms} ms, for every client alike
        location ~ ^/slow(/.*)$ {{
            set $rest $1;
            echo_sleep {delay_s};
            echo_exec /fast$rest;
        }}
    }}
}}
"""


def start_nginx(conf: Path, run_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """nginx with ``conf``, once it answers on ``port``; the error log's tail if it does not.

    "Answers" means our process is still alive after the port accepts: a stray server on the
    same port must not pass for ours.
    """
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-e", str(run_dir / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            time.sleep(0.1)
            if proc.poll() is None:
                return proc
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)
    err = (run_dir / "error.log").read_text(errors="replace")[-500:]
    raise RuntimeError(f"nginx did not start: {err}")


class Nginx:
    """nginx on a loopback port serving ``root``; ``/slow/`` adds a fixed delay per request.

    The kernel here has no ``sch_netem``, so the latency is added by the server (the echo
    module's non-blocking ``echo_sleep`` before an internal redirect to the file): every
    request, from every tool, waits the same time before its first byte.
    """

    def __init__(self, root: Path, run_dir: Path, delay_ms: float = 20.0) -> None:
        self.root = root
        self.run_dir = run_dir
        self.delay_ms = delay_ms
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def fast(self) -> str:
        return f"http://127.0.0.1:{self.port}/fast"

    @property
    def slow(self) -> str:
        return f"http://127.0.0.1:{self.port}/slow"

    def __enter__(self) -> Nginx:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "tmp").mkdir(exist_ok=True)
        conf = self.run_dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(
            echo_module=ECHO_MODULE, run=self.run_dir, port=self.port, root=self.root,
            delay_ms=f"{self.delay_ms:g}", delay_s=f"{self.delay_ms / 1000:.3f}",
        ))
        self.proc = start_nginx(conf, self.run_dir, self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[Any] | None) -> None:
    """Stop a server the benchmark started: SIGTERM, and SIGKILL if it is still there after
    10 s (a benchmark must not leave a server holding its port)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def set_aside(path: Path, trash: Path) -> None:
    """Move a previous run's output out of the way now, to be deleted after the scenario.

    Deleting thousands of files just before a tool runs slows that tool's file creation:
    ext4 skips inodes freed in the last minute or so (``recently_deleted`` in the inode
    allocator), re-checking each of them on every create. Measured here: 0.38 ms per new
    file (strace, ``openat``) right after deleting the previous round's 5,000 files, against
    0.05 ms in a quiet directory. A rename frees nothing, so every tool starts alike.
    """
    if path.exists():
        trash.mkdir(parents=True, exist_ok=True)
        path.rename(trash / f"{path.name}.{time.monotonic_ns()}")


Items = list[dict[str, object]]


def cached_index(base: Path, key: str, build: Callable[[Path], Items]) -> Items:
    """The static-list index of test files under ``base``, built once per ``key``.

    ``build`` writes the files into an empty ``base`` and returns the index entries; a stamp
    file marks a complete build, so an interrupted one is redone, a finished one reused.
    """
    stamp = base / f".complete-{key}"
    index_path = base / "index.json"
    if stamp.exists():
        return list(json.loads(index_path.read_text()))
    rmtree(base)
    base.mkdir(parents=True)
    items = build(base)
    index_path.write_text(json.dumps(items))
    stamp.touch()
    return items


def peak_rss_self_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
