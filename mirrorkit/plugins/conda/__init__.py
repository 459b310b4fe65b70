"""The conda channel plugin (``mirrorkit run conda``); see docs/conda.md."""

from __future__ import annotations

import hashlib

from mirrorkit.api import RegistryCollection, hookimpl, register_algorithm

from .options import CondaOptions
from .registry import Conda

__all__ = ["Conda", "CondaOptions"]

# repodata gives md5 alone for packages indexed before sha256 was recorded
register_algorithm("md5", 32, lambda _size: hashlib.md5(usedforsecurity=False))


@hookimpl
def mirrorkit_add_registries(registries: RegistryCollection) -> None:
    registries.add(Conda)
