"""The client examples of docs/homebrew.md, read as the tests use them.

The brew tests take their environment variables, their cache seeding commands and the
output they expect from the documentation, so a change to what a user is told to do is a
change the tests run.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["cache_commands", "documented_error", "environment", "sample_output"]

DOC = Path(__file__).resolve().parents[3] / "docs" / "homebrew.md"
#: the mirror's address and mount point in the docs' examples
DOC_URL = "https://mirror.example"
DOC_MOUNT = "/mnt/homebrew-mirror"


def _section(title: str) -> str:
    text = DOC.read_text()
    found = re.search(rf"^(#+) {re.escape(title)}\n", text, re.MULTILINE)
    assert found, f"docs/homebrew.md has no section {title!r}"
    level = len(found.group(1))
    rest = text[found.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[:end.start()] if end else rest


def _blocks(title: str, lang: str) -> list[str]:
    """The bodies of the section's fenced blocks whose info string is ``lang``."""
    out: list[str] = []
    body: list[str] | None = None
    kind = ""
    for line in _section(title).splitlines():
        if body is None and line.startswith("```"):
            body, kind = [], line[3:].strip()
        elif body is not None and line.strip() == "```":
            if kind == lang:
                out.append("\n".join(body) + "\n")
            body = None
        elif body is not None:
            body.append(line)
    return out


def environment(title: str, mirror_url: str) -> dict[str, str]:
    """The ``export`` lines of the section's first shell block, for a mirror at ``url``."""
    env = {}
    for line in _blocks(title, "sh")[0].splitlines():
        found = re.match(r"export (\w+)=(\S+)", line)
        if found:
            env[found.group(1)] = found.group(2).replace(DOC_URL, mirror_url)
    assert env, f"no export lines in {title!r}"
    return env


def cache_commands(title: str, mirror_dir: Path) -> str:
    """The section's first shell block, for a mirror directory at ``mirror_dir``."""
    return _blocks(title, "sh")[0].replace(DOC_MOUNT, str(mirror_dir))


def sample_output(title: str) -> list[str]:
    """The lines of the section's first plain block (a terminal session), without the
    command line."""
    return [ln for ln in _blocks(title, "")[0].splitlines() if not ln.startswith("$ ")]


def documented_error() -> str:
    """The error line the Signatures section shows."""
    lines = [ln for ln in _blocks("Signatures", "")[0].splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def as_pattern(line: str, **placeholders: str) -> re.Pattern[str]:
    """A documented line as a regex: ``<name>`` stands for ``placeholders[name]`` (a regex)."""
    parts = re.split(r"(<[a-z0-9_]+>)", line)
    out = "".join(placeholders[p[1:-1]] if p.startswith("<") and p[1:-1] in placeholders
                  else re.escape(p) for p in parts)
    return re.compile(out)
