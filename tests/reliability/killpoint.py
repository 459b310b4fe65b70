"""Run mirrorkit's command line and SIGKILL it just before its Nth change under a directory.

``python killpoint.py`` reads jobs from stdin, one JSON object a line
(``{"dir": DIR, "stop": N, "args": [...]}``), and runs each as ``mirrorkit ARGS...`` in a
child forked from this process (mirrorkit is imported once, here, so that a job costs only
its own work). In the child, each call that creates, writes, renames or removes something
under DIR is a step: ``open``/``os.open`` for writing, ``os.replace``, ``os.rename``,
``os.unlink``, ``os.rmdir``, ``os.mkdir`` (and a removal by ``shutil.rmtree``, which names
entries relative to a directory descriptor). Before step N runs, the child kills itself
with SIGKILL, as ``kill -9`` would at that moment. Each step is appended to ``DIR.steps``
(the call and the path), so a job with a large N tells how many steps there are. For each
job, one line goes to stdout: its exit status (``-9`` when killed) and its stderr.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import signal
import sys
import tempfile
import threading
from typing import Any


def _hook(root: str, stop: int) -> None:
    """Count (and at ``stop``, kill on) every change under ``root`` from now on."""
    log_fd = os.open(root + ".steps", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
    count = 0
    lock = threading.Lock()  # parts are written by several threads
    real = {name: getattr(os, name) for name in
            ("open", "replace", "rename", "unlink", "remove", "rmdir", "mkdir")}
    real_open = builtins.open

    def step(call: str, path: Any, dir_fd: int | None = None) -> None:
        nonlocal count
        if isinstance(path, int):
            return
        full = os.path.abspath(os.fsdecode(os.fspath(path)))
        if dir_fd is None and not (full == root or full.startswith(root + os.sep)):
            return
        with lock:
            count += 1
            if count >= stop:
                os.kill(os.getpid(), signal.SIGKILL)
            os.write(log_fd, f"{count} {call} {full}\n".encode())

    def wrap(name: str, writes: int | None = None) -> Any:
        fn = real[name]

        def wrapped(path: Any, *args: Any, **kw: Any) -> Any:
            flags = args[0] if args else kw.get("flags", 0)
            if writes is None or flags & writes:
                dir_fd = kw.get("dir_fd", kw.get("src_dir_fd"))
                step(name, path, dir_fd)
            return fn(path, *args, **kw)
        return wrapped

    os.open = wrap("open", os.O_WRONLY | os.O_RDWR | os.O_CREAT)  # type: ignore[assignment]
    for name in ("replace", "rename", "unlink", "remove", "rmdir", "mkdir"):
        setattr(os, name, wrap(name))

    def opened(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        if any(c in mode for c in "wax+"):
            step("open", file)
        return real_open(file, mode, *args, **kw)

    builtins.open = io.open = opened  # type: ignore[assignment]  # pathlib uses io.open


def _child(job: dict[str, Any], err_fd: int) -> None:
    os.dup2(err_fd, 2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    code = 70
    try:
        from mirrorkit.cli import main as cli_main

        _hook(os.path.realpath(job["dir"]), int(job["stop"]))
        sys.argv = ["mirrorkit", *job["args"]]
        cli_main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    import importlib

    for module in ("mirrorkit.cli", "mirrorkit.sinks.bundle.commands",
                   "mirrorkit.core.bundle.export", "mirrorkit.core.bundle.catalog",
                   "mirrorkit.core.bundle.importer"):
        importlib.import_module(module)  # once, before any fork

    for line in sys.stdin:
        job = json.loads(line)
        with tempfile.TemporaryFile() as err:
            pid = os.fork()
            if pid == 0:
                _child(job, err.fileno())
            _, status = os.waitpid(pid, 0)
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(json.dumps({"code": code, "stderr": stderr}), flush=True)


if __name__ == "__main__":
    main()
