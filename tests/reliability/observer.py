"""An observer thread that checks the mirror's promise while a run is going.

The promise (DESIGN.md §2.2): every file named by the committed index files exists and
matches its digest, at every moment. The observer checks it in a loop, like a very fast,
very suspicious client. A check that fails while the index itself changed under it is
retried rather than counted (a client that read the old index just before the swap, then
a file pruned just after, sees the same race on any mirror; the index it reads next is
consistent); a failure with the same index before and after is a violation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["Observer", "static_list_check"]


def _fingerprint(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class Observer:
    """Runs ``check()`` until stopped; ``check`` raises AssertionError/OSError on a violation.

    ``fingerprint()`` returns the committed index bytes; use as a context manager.
    """

    def __init__(self, check: Callable[[], object], fingerprint: Callable[[], object],
                 interval: float = 0.002) -> None:
        self.check = check
        self.fingerprint = fingerprint
        self.interval = interval
        self.checks = 0
        self.races = 0
        self.violations: list[str] = []
        self.indexes_seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mirror-observer", daemon=True)

    def check_once(self) -> None:
        before = self.fingerprint()
        try:
            self.check()
        except (AssertionError, OSError, ValueError) as exc:
            if self.fingerprint() != before:
                self.races += 1
                return
            self.violations.append(f"{type(exc).__name__}: {exc}")
        self.checks += 1
        self.indexes_seen.add(hash(before))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.check_once()
            if self.interval:
                time.sleep(self.interval)

    def __enter__(self) -> Observer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def static_list_check(dest: Path, replaced: frozenset[str] = frozenset()) -> Observer:
    """An observer of a mirror of the example ``static-list`` registry."""
    from tests.support.static_list import assert_index_consistent

    return Observer(lambda: assert_index_consistent(dest, replaced),
                    lambda: _fingerprint(dest / "index.json"))
