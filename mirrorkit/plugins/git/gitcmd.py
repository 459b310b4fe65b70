"""Running the ``git`` command line: one place for its environment, errors and secrets.

We drive git as a subprocess rather than through a library: it speaks every transport
(https, ssh, git://, file, dumb HTTP), negotiates fetches against what we already have and
writes packs natively, and it is present wherever a git mirror is wanted. Everything here
makes its output predictable (``LC_ALL=C``, no prompts) and keeps credentials that appear
in URLs out of every message we raise.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio

__all__ = ["GitError", "git", "git_env", "redact"]

#: Variables that would point git at another repository than the one we name.
_REPO_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
              "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_COMMON_DIR",
              "GIT_CEILING_DIRECTORIES")

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


class GitError(Exception):
    """A git command failed; the message is one line, with credentials removed."""


def redact(text: str) -> str:
    """Replace ``user:password@`` in every URL of ``text`` with ``***@``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment git runs in: the operator's (proxies, credential helpers), made quiet."""
    env = {k: v for k, v in os.environ.items() if k not in _REPO_VARS}
    env.update({
        "LC_ALL": "C",
        "LANGUAGE": "C",
        "GIT_TERMINAL_PROMPT": "0",  # a missing credential is an error, never a hang
        "GIT_ASKPASS": env.get("GIT_ASKPASS", ""),
        "SSH_ASKPASS": env.get("SSH_ASKPASS", ""),
        "GIT_SSH_COMMAND": env.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
    })
    env.update(extra or {})
    return env


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    interesting = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    return (interesting or lines or ["no message"])[-1]


async def git(
    args: Sequence[str],
    *,
    git_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    what: str = "",
) -> str:
    """Run ``git [--git-dir=...] args`` and return its stdout; raise :class:`GitError`.

    ``what`` names the operation in the error ("fetching https://..."), already redacted
    by the caller or redacted here.
    """
    cmd = ["git"]
    if git_dir is not None:
        cmd.append(f"--git-dir={git_dir}")
    cmd += list(args)
    try:
        proc = await anyio.run_process(cmd, env=git_env(env), check=False,
                                       stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitError("the git command line is not installed (git not found on PATH)") from None
    if proc.returncode != 0:
        label = what or f"git {args[0]}"
        raise GitError(redact(f"{label}: {_last_line(proc.stderr)}"))
    return proc.stdout.decode("utf-8", "replace")
