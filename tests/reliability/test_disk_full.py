"""A full disk: the run fails cleanly, the previous snapshot stays served, and it recovers.

The mirror lives on a size-limited tmpfs the test mounts (which needs root, as in CI); a
filler file takes the space an update needs, and is removed to "free space".
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirrorkit.core.store.verify import verify_tree
from tests.reliability.helpers import expected_tree, leftover_temp_files
from tests.reliability.mode import record
from tests.support.cli import run_cli
from tests.support.static_list import INDEX, publish, run_args
from tests.support.trees import mirror_tree
from tests.support.upstream import Upstream


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root (CI runs as root)")
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path, leave: int) -> None:
    """Write a file taking all free space on its filesystem but ``leave`` bytes."""
    st = os.statvfs(path.parent)
    free = st.f_bavail * st.f_frsize
    with open(path, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))


def test_disk_full_fails_cleanly_keeps_snapshot_and_recovers(
    upstream: Upstream, small_fs: Path
) -> None:
    rng = random.Random(7)
    dest = small_fs / "mirror"
    v1 = {f"pool/a{i}.bin": rng.randbytes(40_000) for i in range(5)}
    publish(upstream, v1)
    assert run_cli(*run_args(upstream, dest)).code == 0
    served = mirror_tree(dest)
    old_index = (dest / "index.json").read_bytes()

    v2 = {**v1, **{f"pool/b{i}.bin": rng.randbytes(300_000) for i in range(4)}}
    publish(upstream, v2, last_modified=1.8e9)
    filler = small_fs / "filler"
    _fill(filler, leave=200_000)
    res = run_cli(*run_args(upstream, dest, "--json"))
    assert res.code == 1, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("mirrorkit: failed:")]
    assert len(lines) == 1, res.stderr  # the run stops at the first "no space left"
    assert "No space left on device" in lines[0] and "previous snapshot" in lines[0]
    assert "Traceback" not in res.stderr
    assert res.json["status"] == "failed"
    # clients still get the previous snapshot, whole
    assert (dest / "index.json").read_bytes() == old_index
    now = mirror_tree(dest)
    assert {k: v for k, v in now.items() if k in served} == served
    assert verify_tree(dest).ok
    assert leftover_temp_files(dest) == []

    filler.unlink()  # free the space
    res = run_cli(*run_args(upstream, dest, "--json"))
    assert res.code == 0, res.stderr
    assert mirror_tree(dest) == expected_tree(v2, upstream.files[INDEX].body)
    verify = run_cli("verify", dest)
    assert verify.code == 0, verify.stderr
    record("disk-full", failed_lines=len(lines), previous_snapshot_served=True,
           recovered=True)
