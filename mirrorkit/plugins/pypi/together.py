"""Many requests of the plan at once, failing as the first of them failed."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

import anyio

__all__ = ["each_at_once"]

T = TypeVar("T")


async def each_at_once(job: Callable[[T], Coroutine[Any, Any, None]],
                       items: Iterable[T]) -> None:
    """``job(item)`` for every item, side by side. How many requests are in flight is the
    run's transport's business (its limits per host), not this function's. The first
    error is raised as itself, one clear line, not as an exception group; the other jobs
    are cancelled."""
    try:
        async with anyio.create_task_group() as tg:
            for item in items:
                tg.start_soon(job, item)
    except ExceptionGroup as group:
        raise _first(group) from None


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc = group.exceptions[0]
    return _first(exc) if isinstance(exc, BaseExceptionGroup) else exc
