"""Which versions a ``depends:`` (or ``depopts:``) formula may ask for, over-including.

A mirror does not know the client's switch: its OS, whether tests or docs are built, which
alternative of ``("a" | "b")`` the solver picks. So each formula is read for every version
it *could* accept under some client:

- every package named anywhere in the formula counts, on both sides of ``|``;
- a version constraint (``>= "1.2"``, ``= version``) is evaluated with three values: true,
  false, or unknown; filters (``build``, ``with-test``, ``os = "linux"``, ``?var``) and
  variables other than the package's own ``version`` are unknown;
- ``&``, ``|`` and ``!`` combine them as Kleene's logic does, and a version is taken
  unless the constraint is definitely false.

So a constraint is never read tighter than a client could: the closure over-includes, and
never misses a version some client would install.
"""

from __future__ import annotations

from collections.abc import Iterator

from .syntax import Group, Ident, List, Logop, Option, Pfxop, PrefixRelop, Value
from .version import version_key

__all__ = ["Atom", "atoms", "may_accept"]

Atom = tuple[str, tuple[Value, ...]]  # package name, the constraint's values (implicit &)
# three values: True, False, None (unknown)
Tri = bool | None

_OWN_VERSION = frozenset(("version", "_:version"))
_OWN_VERSION_STR = frozenset(("%{version}%", "%{_:version}%"))


def atoms(formula: Value | None) -> Iterator[Atom]:
    """Every package of a package formula, with its constraint (empty: any version)."""
    if formula is None:
        return
    stack: list[Value] = [formula]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value, ()
        elif isinstance(value, Option):
            if isinstance(value.value, str):
                yield value.value, value.options
            else:  # a constraint on a group: the group's packages, whatever it says
                stack.append(value.value)
        elif isinstance(value, List | Group):
            stack.extend(reversed(value.items))
        elif isinstance(value, Logop):
            stack.append(value.right)
            stack.append(value.left)
        # anything else (an ident, a comparison) names no package


def _version_of(value: Value, own: str) -> str | None:
    if isinstance(value, str):
        if "%{" not in value:
            return value
        return own if value in _OWN_VERSION_STR else None
    if isinstance(value, Ident) and value.name in _OWN_VERSION:
        return own
    return None


def _compare(op: str, candidate: str, bound: str) -> Tri:
    a, b = version_key(candidate), version_key(bound)
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    return None


def _eval(value: Value, candidate: str, own: str) -> Tri:
    if isinstance(value, PrefixRelop):
        bound = _version_of(value.value, own)
        return None if bound is None else _compare(value.op, candidate, bound)
    if isinstance(value, Logop):
        left = _eval(value.left, candidate, own)
        if value.op == "&":
            if left is False:
                return False
            right = _eval(value.right, candidate, own)
            if right is False:
                return False
            return True if left and right else None
        if left is True:
            return True
        right = _eval(value.right, candidate, own)
        if right is True:
            return True
        return False if left is False and right is False else None
    if isinstance(value, Pfxop):
        if value.op == "!":
            inner = _eval(value.value, candidate, own)
            return None if inner is None else not inner
        return None
    if isinstance(value, Group):
        return _all(value.items, candidate, own)
    if isinstance(value, bool):
        return value
    return None  # a filter: a variable, a comparison of variables, a string


def _all(values: tuple[Value, ...], candidate: str, own: str) -> Tri:
    result: Tri = True
    for value in values:
        got = _eval(value, candidate, own)
        if got is False:
            return False
        if got is None:
            result = None
    return result


def may_accept(constraint: tuple[Value, ...], candidate: str, own: str) -> bool:
    """Whether some client could take version ``candidate`` for this constraint.

    ``own`` is the version of the package whose formula it is (``{= version}``).
    """
    return _all(constraint, candidate, own) is not False
