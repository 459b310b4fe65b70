"""How often the cyclic garbage collector walks everything, while a mirror runs.

A run keeps its plan alive until it ends: 400,000 artifacts, their digests, the manifest's
entries, the report's changes. Python runs a full collection each time the objects that
survived the younger generations grow by a quarter, so a plan that grows to millions of
objects is walked whole again and again: on a 400,000-package conda plan, eleven full
collections took 1.4 s of CPU, a tenth of the run, and found nothing to free (plan objects
hold no cycles). During a run the third threshold is raised, so a full collection waits for
a thousand younger ones instead of ten; the young generations still collect as before,
and so do full collections once the run is over (the previous thresholds come back).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["YOUNG_GC_THRESHOLD", "collect_young_less_often", "fewer_full_collections"]

#: allocations between collections of the youngest generation in a mirrorkit process
#: (Python's default: 700; why, in ``cli._freeze_imports``)
YOUNG_GC_THRESHOLD = 10_000

_FULL_EVERY = 1000  # younger collections between full ones (Python's default: 10)
_active = 0
_saved: tuple[int, int, int] | None = None


def collect_young_less_often() -> None:
    """Freeze what is imported so far and collect the youngest generation less often (only
    in a process that is mirrorkit's own: the command, its download process)."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, older, oldest)


@contextmanager
def fewer_full_collections() -> Iterator[None]:
    """Raise the collector's third threshold for the block (nested or concurrent runs: once)."""
    global _active, _saved
    if _active == 0:
        _saved = gc.get_threshold()
        first, second, third = _saved
        gc.set_threshold(first, second, max(third, _FULL_EVERY))
    _active += 1
    try:
        yield
    finally:
        _active -= 1
        if _active == 0 and _saved is not None:
            gc.set_threshold(*_saved)
            _saved = None
