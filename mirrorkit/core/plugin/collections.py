"""The collections plugins register their classes in (``registries.add(MyRegistry)``).

Kept apart from the plugin host so the hook specifications can name these types without
importing the host that loads the hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from ..plan.registry import RegistryPlugin
from .notifier import NotifierPlugin
from .sink import SinkPlugin

__all__ = ["NotifierCollection", "PluginError", "Registered", "RegistryCollection",
           "SinkCollection"]

T = TypeVar("T")


class PluginError(Exception):
    """A plugin is broken or two plugins claim the same name."""


@dataclass(frozen=True, slots=True)
class Registered(Generic[T]):
    name: str
    cls: type[T]
    distribution: str


class _Collection(Generic[T]):
    kind = "plugin"
    methods: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._items: dict[str, Registered[T]] = {}
        self._current_dist = "unknown"

    def add(self, cls: type[Any]) -> None:
        """Register a plugin class; checked here, at run time, because a plugin's ``plan``
        narrows its ``options`` type, which a static protocol check would reject."""
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"{self.kind} {cls!r} has no 'name'")
        for attr in ("summary", "Options", *self.methods):
            if not hasattr(cls, attr):
                raise PluginError(f"{self.kind} {name!r} ({cls!r}) has no {attr!r}")
        if name in self._items:
            other = self._items[name]
            raise PluginError(
                f"{self.kind} {name!r} is provided twice: by {other.distribution} "
                f"and by {self._current_dist}"
            )
        self._items[name] = Registered(name, cast(type[T], cls), self._current_dist)

    def get(self, name: str) -> Registered[T]:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise PluginError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def __iter__(self) -> Iterator[Registered[T]]:
        return iter(sorted(self._items.values(), key=lambda r: r.name))

    def __contains__(self, name: object) -> bool:
        return name in self._items


class RegistryCollection(_Collection[RegistryPlugin]):
    kind = "registry"
    methods = ("plan",)


class SinkCollection(_Collection[SinkPlugin]):
    kind = "sink"
    methods = ("publish",)


class NotifierCollection(_Collection[NotifierPlugin]):
    kind = "notifier"
    methods = ("notify",)
