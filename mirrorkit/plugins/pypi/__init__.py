"""The PyPI registry plugin (``mirrorkit run pypi``); see docs/pypi.md.

Only the registry class and its options model are imported at start-up (every entry point
is loaded for ``--help``); the planner and ``packaging`` are imported when a run plans.
"""

from __future__ import annotations

from mirrorkit.api import RegistryCollection, hookimpl

from .options import PyPIOptions
from .registry import PyPI

__all__ = ["PyPI", "PyPIOptions"]


@hookimpl
def mirrorkit_add_registries(registries: RegistryCollection) -> None:
    registries.add(PyPI)
