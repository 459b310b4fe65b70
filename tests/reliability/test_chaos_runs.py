"""Whole runs against a chaos upstream, watched by the observer: faults cost time, not data.

Each run mirrors a new upstream version (files added, removed, one changed in place)
while about a third of all requests fail in one of seven ways; every run must finish ok
with exactly the upstream tree, and the observer must never see a broken index.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

from mirrorkit.core.store.verify import verify_tree
from tests.reliability.chaos import ChaosRates, ChaosUpstream
from tests.reliability.helpers import (
    chaos_args,
    expected_tree,
    first_version,
    leftover_temp_files,
    next_version,
)
from tests.reliability.mode import current_mode, record
from tests.reliability.observer import Observer
from tests.support.cli import run_cli
from tests.support.static_list import INDEX, assert_index_consistent, publish
from tests.support.trees import mirror_tree


def test_runs_under_random_faults_lose_nothing(tmp_path: Path) -> None:
    mode = current_mode()
    rng = random.Random(mode.seed + 1)
    chaos = ChaosUpstream(ChaosRates.moderate(timeout=1.0), seed=mode.seed + 1,
                          prefixes=("/repo/",), max_streak=3, unverifiable=(INDEX,))
    chaos.start()
    dest = tmp_path / "mirror"
    files = first_version(rng, mode.files)
    replaced: frozenset[str] = frozenset()
    observer = Observer(lambda: assert_index_consistent(dest, replaced),
                        lambda: (dest / "index.json").read_bytes()
                        if (dest / "index.json").exists() else None)
    started, stats = time.monotonic(), Counter[str]()
    try:
        with observer:
            for version in range(mode.chaos_runs + 1):
                if version:
                    files, changed = next_version(rng, files, version)
                    replaced = frozenset({changed})
                publish(chaos, files, last_modified=1.7e9 + version)
                res = run_cli(*chaos_args(chaos, dest), "--json", timeout=120)
                assert res.code == 0, res.stderr
                stats["runs"] += 1
                stats["files_fetched"] += res.json["downloaded"]
                assert mirror_tree(dest) == expected_tree(files, chaos.files[INDEX].body)
                assert leftover_temp_files(dest) == []
                assert verify_tree(dest).ok
    finally:
        chaos.stop()
    assert observer.violations == []
    record("chaos-runs", **stats, observer_checks=observer.checks,
           violations=len(observer.violations), faults=dict(chaos.injected),
           requests=chaos.requests_seen, seconds=round(time.monotonic() - started, 1))
