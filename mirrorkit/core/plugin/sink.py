"""The sink plugin API: publishing a committed snapshot somewhere else (S3, bundles...)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from ..store.manifest import Manifest

__all__ = ["SinkContext", "SinkError", "SinkPlugin"]


class SinkError(Exception):
    """Publishing failed; the message is one clear line for the operator."""


@dataclass(slots=True)
class SinkContext:
    mirror: str
    dest: Path
    manifest: Manifest
    log: logging.Logger


@runtime_checkable
class SinkPlugin(Protocol):
    """What ``sinks.add(...)`` accepts (a class; instantiated per publish)."""

    name: str
    summary: str
    Options: type[BaseModel]

    async def publish(self, options: Any, ctx: SinkContext) -> str:
        """Publish the committed snapshot in ``ctx``; return a one-line summary."""
        ...
