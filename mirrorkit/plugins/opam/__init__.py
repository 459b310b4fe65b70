"""The opam repository plugin (``mirrorkit run opam``); see docs/opam.md."""

from __future__ import annotations

from mirrorkit.api import RegistryCollection, hookimpl

from .options import OpamOptions
from .registry import Opam

__all__ = ["Opam", "OpamOptions"]


@hookimpl
def mirrorkit_add_registries(registries: RegistryCollection) -> None:
    registries.add(Opam)
