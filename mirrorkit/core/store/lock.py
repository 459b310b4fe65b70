"""One writer per mirror: an advisory ``flock`` the kernel releases when the holder dies.

Whoever changes or exports the tree (a run, ``export``, ``publish``, ``import``, ``verify
--repair``) holds the lock exclusively and records who it is in the lock file. A run finding
the lock held by another *run* stops at once (that run is doing the same work); held by
anything else (an export, say) it waits up to ``lock_wait`` seconds, saying once what it
waits for, since those end on their own. ``verify`` takes the lock shared, briefly, to
confirm what it found against a tree nobody is changing.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from .manifest import state_dir

__all__ = ["MirrorLock", "MirrorLocked", "lock_holder"]

log = logging.getLogger("mirrorkit.lock")

POLL_S = 0.2


class MirrorLocked(Exception):
    """Another run holds the mirror."""


class MirrorLock:
    """``role`` names what holds the lock ("run", "export", ...); ``wait`` is how long to wait
    for a holder that is not a run of the same mirror; ``shared`` takes a reader's lock."""

    def __init__(self, dest: Path, command: str = "mirrorkit", *, role: str = "run",
                 wait: float = 0.0, shared: bool = False) -> None:
        self.path = state_dir(dest) / "lock"
        self.command = command
        self.role = role
        self.wait = wait
        self.shared = shared
        self._fd: int | None = None

    def __enter__(self) -> MirrorLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._acquire(fd)
        except BaseException:
            os.close(fd)
            raise
        if not self.shared:
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "command": self.command,
                "role": self.role,
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def _acquire(self, fd: int) -> None:
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        deadline = time.monotonic() + self.wait
        told = False
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            info = _read_holder(fd)
            holder = _describe(info)
            dest = self.path.parent.parent
            same_work = self.role == "run" and info is not None and info.get("role",
                                                                               "run") == "run"
            if self.wait <= 0 or same_work:
                raise MirrorLocked(f"{dest} is in use by another run ({holder}); wait for it "
                                   "to finish") from None
            if time.monotonic() >= deadline:
                raise MirrorLocked(f"{dest} is still in use after waiting {self.wait:.0f}s "
                                   f"({holder}); try again later, or allow a longer wait "
                                   "(--lock-wait)") from None
            if not told:
                log.warning("%s is in use (%s); waiting up to %.0fs for it", dest, holder,
                            self.wait)
                told = True
            time.sleep(POLL_S)

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            if not self.shared:
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_holder(dest: Path) -> str | None:
    """Who holds ``dest``'s lock exclusively now (described), or None if nobody does."""
    try:
        fd = os.open(state_dir(dest) / "lock", os.O_RDONLY)
    except OSError:
        return None  # no lock file (or none readable): no run can have taken it
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _describe(_read_holder(fd))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_holder(fd: int) -> dict[str, object] | None:
    try:
        info = json.loads(os.pread(fd, 4096, 0))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _describe(info: dict[str, object] | None) -> str:
    if info is None or not {"pid", "host", "since", "command"} <= info.keys():
        return "holder unknown"
    return f"pid {info['pid']} on {info['host']} since {info['since']}: {info['command']}"
