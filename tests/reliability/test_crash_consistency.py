"""kill -9 at random moments of runs under faults: clients never see a broken mirror.

Each upstream version (a first run, then updates that add, remove and change files) is
run and killed with SIGKILL at a random moment several times, while an observer checks the
promise continuously; after every kill the promise is checked again and the manifest must
load. Then a run is let finish: it must converge (exit 0, the exact upstream tree,
``mirrorkit verify`` clean, no temporary files). The mode (CI or full) sets the counts.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path

from mirrorkit.core.store.manifest import load_manifest
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
from tests.support.cli import run_cli, start_cli
from tests.support.static_list import INDEX, assert_index_consistent, publish
from tests.support.trees import mirror_tree

TRIGGERS = ("time", "downloading", "committed")


def _staging_busy(dest: Path) -> bool:
    tmp = dest / ".mirrorkit" / "tmp"
    try:
        return any(p.stat().st_size > 0 for p in tmp.rglob("*.part"))
    except OSError:  # a file committed (renamed) while we looked
        return True


def _kill_at_random(args: list[str], dest: Path, rng: random.Random,
                    triggers: tuple[str, ...] = TRIGGERS) -> dict[str, object]:
    """Start a run and SIGKILL it at a random moment chosen by a random trigger.

    ``time``: after a random delay; ``downloading``: a random while after temp files appear;
    ``committed``: as soon as the index file changed (during pruning and the manifest write).
    Returns what the kill interrupted.
    """
    trigger = rng.choice(triggers)
    index_before = _read(dest / "index.json")
    proc = start_cli(*args)
    started = time.monotonic()
    deadline = started + (rng.uniform(0.5, 2.0) if trigger == "time" else 15.0)
    fire_at: float | None = deadline if trigger == "time" else None
    while proc.poll() is None:
        now = time.monotonic()
        if fire_at is None:
            if trigger == "downloading" and _staging_busy(dest):
                fire_at = now + rng.uniform(0.0, 0.4)
            elif now > deadline or (
                trigger == "committed" and _read(dest / "index.json") != index_before
            ):
                fire_at = now
        if fire_at is not None and now >= fire_at:
            busy = _staging_busy(dest)
            proc.kill()
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()
    killed = proc.returncode == -signal.SIGKILL
    return {"killed": killed, "trigger": trigger,
            "downloading": killed and busy,
            "after_commit": killed and _read(dest / "index.json") != index_before}


def test_sigkill_at_random_moments_under_faults_converges(tmp_path: Path) -> None:
    mode = current_mode()
    rng = random.Random(mode.seed)
    chaos = ChaosUpstream(ChaosRates.moderate(timeout=1.0), seed=mode.seed,
                          prefixes=("/repo/",), max_streak=3, unverifiable=(INDEX,))
    chaos.start()
    dest = tmp_path / "mirror"
    args = chaos_args(chaos, dest)
    files = first_version(rng, mode.files)
    replaced: frozenset[str] = frozenset()
    stats: Counter[str] = Counter()
    observer = Observer(lambda: assert_index_consistent(dest, replaced),
                        lambda: _read(dest / "index.json"))
    started = time.monotonic()
    version = 0
    publish(chaos, files, last_modified=1.7e9)
    try:
        with observer:
            while stats["kills"] < mode.kills:
                # once this version's index is committed, waiting for a commit is pointless
                triggers = TRIGGERS if not stats["committed_this_version"] else TRIGGERS[:2]
                kill = _kill_at_random(args, dest, rng, triggers)
                # the promise holds right after the kill, and the state is readable
                observer.check_once()
                assert observer.violations == [], observer.violations
                load_manifest(dest)
                if kill["killed"]:
                    stats["kills"] += 1
                    stats["kills_this_version"] += 1
                    stats[f"trigger_{kill['trigger']}"] += 1
                    stats["killed_while_downloading"] += bool(kill["downloading"])
                    stats["killed_after_index_commit"] += bool(kill["after_commit"])
                    stats["committed_this_version"] += bool(kill["after_commit"])
                    if version and kill["after_commit"]:
                        stats["killed_while_replacing_a_snapshot"] += 1
                    if stats["kills_this_version"] < mode.kills_per_version:
                        continue
                    res = run_cli(*args, timeout=120)  # let this version finish
                    assert res.code == 0, res.stderr
                else:
                    stats["completed_before_kill"] += 1
                _assert_converged(dest, files, chaos)
                stats["snapshots_converged"] += 1
                version += 1
                stats["kills_this_version"] = stats["committed_this_version"] = 0
                files, changed = next_version(rng, files, version)
                replaced = frozenset({changed})
                publish(chaos, files, last_modified=1.7e9 + version)
            res = run_cli(*args, "--json", timeout=120)
            assert res.code == 0, res.stderr
        _assert_converged(dest, files, chaos)
        stats["snapshots_converged"] += 1
        verify = run_cli("verify", dest)
        assert verify.code == 0, verify.stderr
    finally:
        chaos.stop()
    assert observer.violations == []
    del stats["kills_this_version"], stats["committed_this_version"]
    record("crash-consistency", **stats, versions=version + 1, files_per_version=mode.files,
           observer_checks=observer.checks, observer_races=observer.races,
           violations=len(observer.violations), faults=dict(chaos.injected),
           requests=chaos.requests_seen, seconds=round(time.monotonic() - started, 1))


def _assert_converged(dest: Path, files: dict[str, bytes], chaos: ChaosUpstream) -> None:
    assert mirror_tree(dest) == expected_tree(files, chaos.files[INDEX].body)
    assert leftover_temp_files(dest) == []
    result = verify_tree(dest)
    assert result.ok, result.lines()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
