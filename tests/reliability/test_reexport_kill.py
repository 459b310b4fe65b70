"""kill -9 while re-exporting a snapshot with another part size leaves the bundle whole.

The earlier export's TOC names parts ``NAME.tar.0000`` and on; a re-export of the same
snapshot with another ``--part-size`` writes parts of the same names. It used to write them
in place, so a kill left the old TOC beside new parts and a complete bundle read as
truncated. Parts are now written apart and moved in only when all are done, the old TOC
removed first and the new one written last.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.sinks.bundle.bundle_helpers import make_mirror, random_files, tree
from tests.support.cli import run_cli, start_cli

SNAP = "20260108T000000Z-bbbbbb"
NAME = f"demo-{SNAP}-full"
NEW_PART = 256 * 1024


def _new_part_written(out: Path) -> bool:
    """A finished part of the new size anywhere under ``out`` (wherever an export puts it)."""
    for dirpath, _, names in os.walk(out):
        for name in names:
            if (name.startswith(f"{NAME}.tar.") and not name.endswith(".tmp")
                    and os.path.getsize(os.path.join(dirpath, name)) == NEW_PART):
                return True
    return False


def _kill_when_a_new_part_is_written(proc: subprocess.Popen[str], out: Path) -> bool:
    """SIGKILL ``proc`` once it has finished a new part; False if it ended first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = _new_part_written(out)
        except FileNotFoundError:  # a part moved while looked at
            done = False
        if done:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.001)
    proc.wait()
    return False


def test_kill_during_a_reexport_with_another_part_size_keeps_the_bundle_whole(
        tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_mirror(src, random_files(16, 1024 * 1024), snapshot=SNAP)
    first = run_cli("export", src, "--to", out, "--part-size", "4MiB", "--json")
    assert first.code == 0, first.stderr
    old_parts = len(first.json["parts"])
    toc_before = (out / f"{NAME}.toc.json").read_bytes()
    parts_before = {p.name: p.read_bytes() for p in out.glob(f"{NAME}.tar.*")}

    killed = 0
    for _ in range(5):
        proc = start_cli("export", src, "--to", out, "--full", "--part-size", "256KiB")
        if not _kill_when_a_new_part_is_written(proc, out):
            # the re-export finished before a part was seen: start again from the old one
            assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
            for p in out.glob(f"{NAME}.tar.*"):
                p.unlink()
            for name, data in parts_before.items():
                (out / name).write_bytes(data)
            (out / f"{NAME}.toc.json").write_bytes(toc_before)
            continue
        killed += 1
        # the earlier bundle is exactly as it was, and checks complete
        assert (out / f"{NAME}.toc.json").read_bytes() == toc_before
        assert {p.name: p.read_bytes() for p in out.glob(f"{NAME}.tar.*")} == parts_before
        check = run_cli("import", "--check", out)
        assert check.code == 0, check.stderr
        listed = run_cli("bundles", out, "--json")
        assert listed.json["bundles"][0]["parts"] == old_parts
        break
    assert killed, "every re-export finished before a part was written; nothing was tested"

    # it imports, and the next re-export completes with the new part size
    assert run_cli("import", out, "--into", tmp_path / "a").code == 0
    assert tree(tmp_path / "a") == tree(src)
    again = run_cli("export", src, "--to", out, "--full", "--part-size", "256KiB", "--json")
    assert again.code == 0, again.stderr
    toc = json.loads((out / f"{NAME}.toc.json").read_bytes())
    assert toc["part_size"] == 256 * 1024 and len(toc["parts"]) > old_parts
    assert sorted(p.name for p in out.glob(f"{NAME}.tar.*")) == [p["name"] for p in toc["parts"]]
    assert not (out / f".{NAME}.export").exists()
    assert run_cli("import", "--check", out).code == 0
    assert run_cli("import", out, "--into", tmp_path / "b").code == 0
    assert tree(tmp_path / "b") == tree(src)
