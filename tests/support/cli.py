"""Run the real ``mirrorkit`` command line in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.setdefault("COLUMNS", "120")
    env.update(extra or {})
    return env


def run_cli(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None, input: str | None = None) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "mirrorkit", *map(str, args)],
        capture_output=True, text=True, env=cli_env(env), timeout=timeout, cwd=cwd,
        input=input,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def start_cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mirrorkit", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(env),
    )
