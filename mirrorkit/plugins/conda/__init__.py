"""The conda channel plugin (``mirrorkit run conda``); see docs/conda.md."""

from __future__ import annotations

from mirrorkit.api import RegistryCollection, hookimpl

from .options import CondaOptions
from .registry import Conda

__all__ = ["Conda", "CondaOptions"]


@hookimpl
def mirrorkit_add_registries(registries: RegistryCollection) -> None:
    registries.add(Conda)
