"""The apt registry plugin (``mirrorkit run apt``); see docs/apt.md."""

from __future__ import annotations

import click

from mirrorkit.api import RegistryCollection, hookimpl

from .options import AptOptions, AptSource
from .registry import Apt
from .status import status_command

__all__ = ["Apt", "AptOptions", "AptSource"]


@hookimpl
def mirrorkit_add_registries(registries: RegistryCollection) -> None:
    registries.add(Apt)


@hookimpl
def mirrorkit_add_commands(cli: click.Group) -> None:
    cli.add_command(status_command)
