"""Run mirrorkit's command line and count the bytes it writes into files under a directory.

``python writecount.py DIR LOG ARGS...`` runs ``mirrorkit ARGS...`` (as ``python -m
mirrorkit`` does) with every file opened for writing under DIR wrapped: each ``write``
appends ``<bytes> <path>`` to LOG. Processes forked by the run inherit the wrapping and
append to the same LOG, so the sum of its first column is what the run (and its children)
wrote there, whatever happened to the files afterwards (a refused download is deleted).
"""

from __future__ import annotations

import builtins
import io
import os
import sys
from typing import Any

from mirrorkit.testing import CliResult, cli_env

__all__ = ["bytes_written", "run_counting_writes"]


class _Counting:
    def __init__(self, fh: Any, path: str, log_fd: int) -> None:
        self._fh, self._path, self._log = fh, path, log_fd

    def write(self, data: Any) -> int:
        n: int = self._fh.write(data)
        size = len(data.encode()) if isinstance(data, str) else memoryview(data).nbytes
        os.write(self._log, f"{size} {self._path}\n".encode())
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _Counting:
        self._fh.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._fh.__exit__(*exc)


def _install(root: str, log: str) -> None:
    log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    real_open = io.open

    def opened(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        fh = real_open(file, mode, *args, **kw)
        if isinstance(file, int) or not any(c in mode for c in "wax+"):
            return fh
        path = os.path.abspath(os.fsdecode(os.fspath(file)))
        if not path.startswith(root + os.sep):
            return fh
        return _Counting(fh, path, log_fd)

    builtins.open = io.open = opened  # type: ignore[assignment]  # pathlib uses io.open


def run_counting_writes(root: Any, log: Any, *args: Any,
                        env: dict[str, str] | None = None) -> CliResult:
    """``mirrorkit ARGS`` in a subprocess, its writes under ``root`` logged to ``log``."""
    import subprocess

    proc = subprocess.run([sys.executable, __file__, str(root), str(log), *map(str, args)],
                          capture_output=True, text=True, env=cli_env(env), timeout=120,
                          check=False)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def bytes_written(log: Any) -> int:
    """The bytes the run wrote under its directory (0 when it wrote nothing there)."""
    try:
        with open(log, encoding="utf-8") as fh:
            return sum(int(line.split(" ", 1)[0]) for line in fh)
    except FileNotFoundError:
        return 0


if __name__ == "__main__":
    _install(os.path.realpath(sys.argv[1]), sys.argv[2])
    sys.argv = ["mirrorkit", *sys.argv[3:]]
    from mirrorkit.cli import main

    main()
