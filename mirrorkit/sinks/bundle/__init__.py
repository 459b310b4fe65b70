"""Split-part bundles: carry a mirror (or what changed) across an air gap, and apply it.

``mirrorkit export`` writes one tar stream cut into numbered parts plus a TOC to a directory
or S3; ``mirrorkit import`` verifies every part and applies the bundle all-or-nothing;
``mirrorkit bundles`` lists what a directory holds and the import order. The ``bundle``
sink exports after each successful run. See docs/bundles.md.
"""

from __future__ import annotations

import click

from mirrorkit.api import SinkCollection, hookimpl

from .commands import add_commands
from .sink import BundleSink, BundleSinkOptions

__all__ = ["BundleSink", "BundleSinkOptions", "mirrorkit_add_commands", "mirrorkit_add_sinks"]


@hookimpl
def mirrorkit_add_commands(cli: click.Group) -> None:
    add_commands(cli)


@hookimpl
def mirrorkit_add_sinks(sinks: SinkCollection) -> None:
    sinks.add(BundleSink)
