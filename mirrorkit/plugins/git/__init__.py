"""The git registry plugin: repositories as static dumb-HTTP mirrors, and files of one ref
through a hosting API (``git-tree``). Registered through the ``mirrorkit`` entry-point group.
"""

from __future__ import annotations

from pathlib import Path

from mirrorkit.api import Manifest, RegistryCollection, hookimpl

from .registry import GitRegistry
from .tree import GitTreeRegistry

__all__ = ["GitRegistry", "GitTreeRegistry"]


@hookimpl
def mirrorkit_add_registries(registries: RegistryCollection) -> None:
    registries.add(GitRegistry)
    registries.add(GitTreeRegistry)


@hookimpl
def mirrorkit_verify_mirror(dest: Path, manifest: Manifest) -> list[str] | None:
    from .verify import verify_git_mirror  # only `mirrorkit verify` needs it

    return verify_git_mirror(dest, manifest)
