"""Shared pieces of the hostile-input tests: the CLI in-process, a sentinel beside the mirror.

The corpus is large, so each case runs the real click command in this process
(``CliRunner``) rather than a new interpreter: the same code path a user runs, at a tenth
of the cost. The sentinel is a snapshot of everything beside the mirror (the test's
temporary directory minus the mirror): a hostile name that escapes the mirror changes it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from mirrorkit.cli import _add_plugin_commands, cli

__all__ = ["Outcome", "Sentinel", "assert_clear_error", "invoke", "snapshot"]


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Outcome:
    """Run ``mirrorkit ARGS`` in this process; exit code, stdout and stderr apart."""
    if "import" not in cli.commands:  # what mirrorkit.cli.main() does first
        _add_plugin_commands()
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"mirrorkit crashed: {result.exception!r}\n{result.stderr}"
                             ) from result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def snapshot(root: Path, *, skip: Path | None = None) -> dict[str, str]:
    """sha256 of every file and a marker per directory under ``root`` (minus ``skip``)."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for name in filenames:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


class Sentinel:
    """Everything beside the mirror, to prove a hostile input wrote nothing outside it."""

    def __init__(self, root: Path, dest: Path) -> None:
        self.root, self.dest = root, dest
        self.dir = root / "sentinel"
        self.dir.mkdir(exist_ok=True)
        (self.dir / "keep.txt").write_bytes(b"must not change\n")
        self.before = snapshot(root, skip=dest)

    def assert_untouched(self) -> None:
        assert snapshot(self.root, skip=self.dest) == self.before


def assert_clear_error(out: Outcome, code: int, *needles: str) -> str:
    """Exit ``code``, no traceback, and a ``mirrorkit:`` line naming every needle; returns it."""
    assert out.code == code, (out.code, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("mirrorkit: ")]
    assert lines, out.stderr
    matching = [ln for ln in lines if all(n in ln for n in needles)]
    assert matching, f"no error line names {needles}:\n{out.stderr}"
    assert len(matching[0]) < 600, matching[0]
    return matching[0]
