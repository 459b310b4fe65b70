"""Every hook a mirrorkit plugin can implement. Each one is documented in docs/plugins.md.

Plugins are found through the ``mirrorkit`` entry-point group; built-in registries and sinks
use exactly these hooks, so the core has no special cases.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from ..run.report import RunReport
    from ..store.manifest import Manifest
    from ..store.verify import VerifyResult
    from .collections import NotifierCollection, RegistryCollection, SinkCollection

PROJECT = "mirrorkit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mirrorkit_add_registries(registries: RegistryCollection) -> None:
    """Add registry types (classes following RegistryPlugin) with ``registries.add(cls)``."""


@hookspec
def mirrorkit_add_sinks(sinks: SinkCollection) -> None:
    """Add sink types (classes following SinkPlugin) with ``sinks.add(cls)``."""


@hookspec
def mirrorkit_add_notifiers(notifiers: NotifierCollection) -> None:
    """Add notifier types (classes following NotifierPlugin) with ``notifiers.add(cls)``."""


@hookspec
def mirrorkit_run_finished(report: RunReport) -> None:
    """Called once with the final report when a mirror run (and its sinks) has ended."""


@hookspec
def mirrorkit_verify_mirror(dest: Path, manifest: Manifest) -> list[str] | None:
    """Extra checks for ``mirrorkit verify``; return one line per problem found (or None)."""


@hookspec
def mirrorkit_add_commands(cli: click.Group) -> None:
    """Add command-line commands (click commands) to the ``mirrorkit`` group."""


@hookspec(firstresult=True)
def mirrorkit_verify_target(target: str, rehash: bool) -> VerifyResult | None:
    """Verify a published copy named by ``target`` (``s3://...``) if it is yours, else None."""
