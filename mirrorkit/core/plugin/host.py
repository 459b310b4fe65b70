"""A small typed wrapper around pluggy so the rest of the core never calls hooks untyped."""

from __future__ import annotations

import difflib
import importlib.metadata
import os
from pathlib import Path
from typing import Any

import pluggy

from ..run.report import RunReport
from ..store.manifest import Manifest
from . import hookspecs
from .collections import (
    NotifierCollection,
    PluginError,
    Registered,
    RegistryCollection,
    SinkCollection,
)

__all__ = [
    "NotifierCollection",
    "PluginError",
    "PluginHost",
    "Registered",
    "RegistryCollection",
    "SinkCollection",
    "load_plugins",
]

class PluginHost:
    """The loaded plugins, with typed calls for each hook."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.registries = RegistryCollection()
        self.sinks = SinkCollection()
        for impl in pm.hook.mirrorkit_add_registries.get_hookimpls():
            self.registries._current_dist = _distribution_of(pm, impl.plugin)
            impl.function(registries=self.registries)
        for impl in pm.hook.mirrorkit_add_sinks.get_hookimpls():
            self.sinks._current_dist = _distribution_of(pm, impl.plugin)
            impl.function(sinks=self.sinks)
        self.notifiers = NotifierCollection()
        for impl in pm.hook.mirrorkit_add_notifiers.get_hookimpls():
            self.notifiers._current_dist = _distribution_of(pm, impl.plugin)
            impl.function(notifiers=self.notifiers)

    def run_finished(self, report: RunReport) -> None:
        self.pm.hook.mirrorkit_run_finished(report=report)

    def verify_mirror(self, dest: Path, manifest: Manifest) -> list[str]:
        problems: list[str] = []
        for result in self.pm.hook.mirrorkit_verify_mirror(dest=dest, manifest=manifest):
            if result:
                problems.extend(result)
        return problems


def _distribution_of(pm: pluggy.PluginManager, plugin: Any) -> str:
    for loaded, dist in pm.list_plugin_distinfo():
        if loaded is plugin:
            return f"{dist.metadata['name']} {dist.version}"
    return getattr(plugin, "__name__", repr(plugin))


#: Names of entry points (``mirrorkit plugins`` lists them) that are not loaded, comma-separated.
DISABLE_ENV = "MIRRORKIT_DISABLE_PLUGINS"


def disabled_plugins() -> list[str]:
    return [n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()]


def load_plugins(*extra: Any) -> PluginHost:
    """Load every plugin of the ``mirrorkit`` entry-point group (plus ``extra`` modules).

    Entry points named in ``MIRRORKIT_DISABLE_PLUGINS`` are skipped (a broken third-party
    plugin must not lock an operator out of the tool), and a hook implementation that matches
    no hook (a misspelled ``mirrorkit_add_registry``) is an error naming it: pluggy would
    otherwise never call it, and the plugin would silently do nothing.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in disabled_plugins():
        pm.set_blocked(name)
    try:
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    except Exception as exc:  # a broken third-party plugin must not hide which one it was
        raise PluginError(
            f"loading a plugin of the 'mirrorkit' entry-point group failed: {exc} "
            f"(skip it with {DISABLE_ENV}=NAME)"
        ) from exc
    for plugin in extra:
        pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        where = _distribution_of(pm, exc.plugin)
        raise PluginError(f"plugin {where}: {_pending_message(exc)} "
                          f"(skip it with {DISABLE_ENV}=NAME)") from None
    return PluginHost(pm)


def _pending_message(exc: pluggy.PluginValidationError) -> str:
    """pluggy's "unknown hook 'x' in plugin <module ...>" with the known hooks named."""
    text = str(exc)
    name = text.split("'")[1] if text.count("'") >= 2 else ""
    hooks = sorted(n for n in dir(hookspecs) if n.startswith("mirrorkit_"))
    close = difflib.get_close_matches(name, hooks, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known hooks: {', '.join(hooks)}"
    return f"unknown hook {name!r}{hint}" if name else text


def entry_point_names() -> list[str]:
    return sorted(ep.name for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT))
