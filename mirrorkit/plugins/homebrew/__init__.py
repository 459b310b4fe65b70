"""The Homebrew registry plugin (``mirrorkit run homebrew``); see docs/homebrew.md."""

from __future__ import annotations

from mirrorkit.api import RegistryCollection, hookimpl

from .options import HomebrewOptions
from .registry import Homebrew

__all__ = ["Homebrew", "HomebrewOptions"]


@hookimpl
def mirrorkit_add_registries(registries: RegistryCollection) -> None:
    registries.add(Homebrew)
