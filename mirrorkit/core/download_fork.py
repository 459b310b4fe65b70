"""Forking the download process (:mod:`.download_process`), first thing in the command.

The child's start-up is importing the HTTP stack (aiohttp: about 0.2 s); the parent's is
importing the command line, its configuration models and the plugins (about as long). Forked
before either, the two start-ups run side by side on two cores. This module therefore
imports nothing of mirrorkit's at its top: ``mirrorkit.launch`` calls it before anything else.
"""

from __future__ import annotations

import os
import signal
import socket
import sys

__all__ = ["discard", "fork_child", "fork_early", "take_early"]

# the first argument of the commands that mirror (those that make a run's requests)
_RUNS = frozenset({"run", "plan"})
_early: tuple[socket.socket, int] | None = None


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):  # None when the command runs with it closed
        if stream is not None:
            stream.flush()


def fork_child() -> tuple[socket.socket, int] | None:
    """Fork the download process: the parent's end of their socket and the child's pid.

    None where it would not help or cannot work: not Linux (``fork`` of a process that may
    later start threads is only safe there before any thread exists, as here), or one core.
    """
    if not sys.platform.startswith("linux") or _cores() < 2:
        return None
    parent_end, child_end = socket.socketpair()
    _flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (measured through the CLI tests' subprocesses)
        code = 0
        try:
            parent_end.close()
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends it
            from .download_child import run_child

            run_child(child_end)
        except BaseException:
            import logging

            logging.getLogger("mirrorkit.engine").exception("download process failed")
            code = 1
        finally:
            _flush()
            os._exit(code)  # a forked child must not run the parent's exit handlers
    child_end.close()
    return parent_end, pid


def fork_early(argv: list[str]) -> None:
    """Fork now if the command line is a mirror run (``run``, ``plan``); the run takes the
    child with :func:`take_early`, then uses it or ends it with :func:`discard`."""
    global _early
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in _RUNS and _early is None:
        _early = fork_child()


def discard(child: tuple[socket.socket, int]) -> None:
    """End a child the run does not want: it has started nothing yet, so it is killed and
    collected at once rather than left to finish importing first."""
    sock, pid = child
    sock.close()
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def take_early() -> tuple[socket.socket, int] | None:
    global _early
    early, _early = _early, None
    return early
