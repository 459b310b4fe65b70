"""Runtime dependencies as brew resolves them when it pours a bottle on one platform.

The internal API (``packages.<tag>``) is already reduced to one platform; what is left for
us is brew's own pruning when installing from a bottle:

- ``:build`` and ``:test`` dependencies are not installed with a bottle, ``:optional`` ones
  only on request (which a bottle never is); ``:recommended`` ones are.
- requirements (``":macos"``, ``{":xcode": [...]}``) are not formulae.
- ``uses_from_macos`` names a formula the system provides: always a dependency on Linux, and
  on macOS only when the OS the bottle was built for is older than its ``since`` bound
  (brew's ``UsesFromMacOSDependency#use_macos_install?``). A bound we do not know is treated
  as "needed": mirroring one formula too many is harmless, one too few breaks an install.

Ruby symbols arrive as strings with a leading ``:``; a real string starting with ``:`` or
``\\`` is escaped with a backslash (brew's ``Utils.deep_stringify_symbols``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .tags import macos_version

__all__ = ["DependencyError", "closure", "runtime_dependencies"]

_NOT_POURED = frozenset({":build", ":test", ":optional"})


class DependencyError(ValueError):
    """A dependency entry has a shape brew does not write."""


def _unescape(text: str) -> str:
    return text[1:] if text.startswith("\\") else text


def _is_symbol(text: str) -> bool:
    return text.startswith(":")


def _tags(value: Any, where: str) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset((value,))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise DependencyError(f"{where}: dependency type must be a symbol or a list of symbols")


def _stable_dependencies(entries: Any, where: str) -> Iterable[str]:
    if not isinstance(entries, list):
        raise DependencyError(f"{where}: not a list")
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if isinstance(entry, str):
            if not _is_symbol(entry):
                yield _unescape(entry)
        elif isinstance(entry, dict):
            for key, value in entry.items():
                if _is_symbol(key):
                    continue  # a requirement such as {":macos": [":sonoma", ":build"]}
                if not (_tags(value, at) & _NOT_POURED):
                    yield _unescape(key)
        else:
            raise DependencyError(f"{at}: unexpected {type(entry).__name__}")


def _uses_from_macos_entry(entry: Any, at: str) -> tuple[str, frozenset[str], str | None]:
    """(name, dependency types, since bound) from any of the shapes brew serialises."""
    if isinstance(entry, str):
        return _unescape(entry), frozenset(), None
    if isinstance(entry, dict):
        entry = [entry]
    if not isinstance(entry, list) or not 1 <= len(entry) <= 2:
        raise DependencyError(f"{at}: expected a name or [name, bounds]")
    first, bounds = entry[0], entry[1] if len(entry) == 2 else {}
    if not isinstance(bounds, dict):
        raise DependencyError(f"{at}: bounds must be an object")
    since = bounds.get(":since")
    if isinstance(first, str):
        name, types = _unescape(first), frozenset[str]()
    elif isinstance(first, dict):
        name_keys = [k for k in first if not _is_symbol(k)]
        if len(name_keys) != 1:
            raise DependencyError(f"{at}: expected exactly one formula name")
        name = _unescape(name_keys[0])
        types = _tags(first[name_keys[0]], at)
        since = first.get(":since", since)
    else:
        raise DependencyError(f"{at}: unexpected {type(first).__name__}")
    if since is not None and not isinstance(since, str):
        raise DependencyError(f"{at}: 'since' must be a macOS name")
    return name, types, since


def _uses_from_macos(
    entries: Any, where: str, *, macos: tuple[int, ...] | None
) -> Iterable[str]:
    if not isinstance(entries, list):
        raise DependencyError(f"{where}: not a list")
    for i, entry in enumerate(entries):
        name, types, since = _uses_from_macos_entry(entry, f"{where}[{i}]")
        if types & _NOT_POURED:
            continue
        if macos is None:  # Linux: always a dependency
            yield name
            continue
        if since is None:
            continue  # macOS always provides it
        bound = macos_version(since)
        if bound is None or macos < bound:
            yield name


def runtime_dependencies(
    data: Mapping[str, Any], where: str, *, macos: tuple[int, ...] | None
) -> tuple[str, ...]:
    """The formula names a bottle install pulls in, from one internal-API formula entry.

    ``macos`` is the macOS version the served bottle targets (None on Linux).
    """
    names: dict[str, None] = {}
    deps = data.get("stable_dependencies")
    if deps is not None:
        names.update(dict.fromkeys(_stable_dependencies(deps, f"{where}.stable_dependencies")))
    ufm = data.get("stable_uses_from_macos")
    if ufm is not None:
        names.update(dict.fromkeys(
            _uses_from_macos(ufm, f"{where}.stable_uses_from_macos", macos=macos)))
    return tuple(names)


def closure(
    roots: Iterable[str],
    deps_of: Callable[[str], Iterable[str]],
    on_unknown: Callable[[str, str], None],
    known: Callable[[str], str | None],
) -> list[str]:
    """Every formula reachable from ``roots`` (in discovery order).

    ``known(name)`` returns the canonical name (following aliases and renames) or None;
    ``on_unknown(name, dependent)`` is told about a dependency that does not exist.
    """
    seen: dict[str, None] = {}
    queue = deque(roots)
    while queue:
        name = queue.popleft()
        if name in seen:
            continue
        seen[name] = None
        for dep in deps_of(name):
            canonical = known(dep)
            if canonical is None:
                on_unknown(dep, name)
            elif canonical not in seen:
                queue.append(canonical)
    return list(seen)
