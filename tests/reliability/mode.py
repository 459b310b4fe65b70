"""CI mode (short, default) or full mode (``MIRRORKIT_RELIABILITY=full``), and the figures.

The full runner (``python -m tests.reliability.full``) sets the mode and a results file;
each test appends one JSON line of what it injected and what survived, and the runner turns
them into the table of docs/reliability.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["Mode", "current_mode", "record"]

MODE_VAR = "MIRRORKIT_RELIABILITY"
RESULTS_VAR = "MIRRORKIT_RELIABILITY_RESULTS"
SEED_VAR = "MIRRORKIT_RELIABILITY_SEED"


@dataclass(frozen=True)
class Mode:
    name: str
    seed: int
    kills: int  # SIGKILLs in the crash test
    kills_per_version: int  # at most, before a run of that upstream version is let finish
    files: int  # files per upstream version
    chaos_runs: int  # uninterrupted runs under faults (observer only)
    hostile_examples: int  # hypothesis examples per property


def current_mode() -> Mode:
    full = os.environ.get(MODE_VAR, "ci") == "full"
    seed = int(os.environ.get(SEED_VAR) or 20260101)
    if full:
        return Mode("full", seed, kills=120, kills_per_version=6, files=30, chaos_runs=10,
                    hostile_examples=2000)
    return Mode("ci", seed, kills=20, kills_per_version=4, files=12, chaos_runs=1,
                hostile_examples=200)


def record(test: str, **figures: Any) -> None:
    """Append one line of figures for the runner (no-op outside the runner)."""
    path = os.environ.get(RESULTS_VAR)
    if not path:
        return
    line = json.dumps({"test": test, "mode": current_mode().name, **figures}, sort_keys=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
