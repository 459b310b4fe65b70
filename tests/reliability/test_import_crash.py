"""kill -9 during the commit of a first full import into an empty directory, then the same
import again: it completes (``.mirrorkit/import.json`` names the bundle whose commit began),
as docs/bundles.md promises, and another bundle is refused with a line saying what to do.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.sinks.bundle.bundle_helpers import make_mirror, tree
from tests.support.cli import run_cli, start_cli

SNAP = "20260108T000000Z-cccccc"


def _kill_mid_commit(toc: Path, dest: Path) -> bool:
    """Start the import and kill it once files appear but before the manifest does."""
    proc = start_cli("import", toc, "--into", dest)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                visible = [n for n in os.listdir(dest) if n != ".mirrorkit"]
            except FileNotFoundError:
                visible = []
            if visible:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.0005)
    finally:
        proc.wait()
    return proc.returncode == -signal.SIGKILL and not (
        dest / ".mirrorkit" / "manifest.json").exists()


def test_first_full_import_killed_mid_commit_completes_on_the_next_try(tmp_path: Path) -> None:
    source = tmp_path / "source"
    files = {f"pool/{i:04d}.bin": os.urandom(64) + str(i).encode() for i in range(1500)}
    make_mirror(source, files, snapshot=SNAP)
    media = tmp_path / "media"
    assert run_cli("export", source, "--to", media).code == 0
    toc = next(media.glob("*.toc.json"))

    for attempt in range(6):  # the kill must land inside the commit; retry if it missed
        dest = tmp_path / f"mirror{attempt}"
        if _kill_mid_commit(toc, dest):
            break
    else:
        raise AssertionError("never killed the import inside its commit")
    assert tree(dest) != tree(source)  # half committed: some files in place, no manifest

    other = make_mirror(tmp_path / "other", {"z.bin": b"z"}, snapshot="20260109T000000Z-dddddd")
    assert other.snapshot
    assert run_cli("export", tmp_path / "other", "--to", tmp_path / "media2").code == 0
    refused = run_cli("import", next((tmp_path / "media2").glob("*.toc.json")), "--into", dest)
    assert refused.code == 1
    assert "interrupted import of demo-" in refused.stderr, refused.stderr

    again = run_cli("import", toc, "--into", dest)
    assert again.code == 0, again.stderr
    assert tree(dest) == tree(source)
    assert not (dest / ".mirrorkit" / "import.json").exists()
    assert run_cli("verify", dest).code == 0
