"""Run the real ``mirrorkit`` command line in a subprocess (shared with plugin authors)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mirrorkit.testing import CliResult, cli_env, run_cli

Result = CliResult

__all__ = ["Result", "cli_env", "run_cli", "start_cli"]


def start_cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mirrorkit", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(env),
    )
