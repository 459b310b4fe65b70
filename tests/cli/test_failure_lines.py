"""How a run's failed files are said on stderr: many with one reason in one line."""

from __future__ import annotations

from mirrorkit.api import ArtifactError
from mirrorkit.cli import FAILURE_LINES, _failure_lines


def _err(i: int, reason: str) -> ArtifactError:
    return ArtifactError(path=f"pool/f{i}.bin", url=f"http://up.example/f{i}.bin", error=reason)


def test_a_reason_shared_by_many_files_is_one_line_and_comes_first() -> None:
    errors = [_err(0, "HTTP 404 Not Found"), _err(1, "sha256 mismatch: expected a, got b")]
    errors += [_err(i, "connection error: refused") for i in range(2, 1002)]
    lines = _failure_lines(errors)
    assert lines[0] == ("mirrorkit: failed: 1000 files: connection error: refused (the first: "
                        "pool/f2.bin from http://up.example/f2.bin; every one with --json)")
    assert lines[1:] == [
        "mirrorkit: failed: pool/f0.bin: HTTP 404 Not Found (http://up.example/f0.bin)",
        "mirrorkit: failed: pool/f1.bin: sha256 mismatch: expected a, got b "
        "(http://up.example/f1.bin)"]


def test_past_the_cap_the_last_line_counts_the_files_left_out() -> None:
    errors = [_err(i, f"reason {i}") for i in range(FAILURE_LINES + 20)]
    errors += [_err(i, "HTTP 500") for i in range(100, 110)]
    lines = _failure_lines(errors)
    assert len(lines) == FAILURE_LINES + 1
    assert lines[0].startswith("mirrorkit: failed: 10 files: HTTP 500")
    assert lines[-1] == "mirrorkit: ... and 21 more failed files (every one with --json)"
