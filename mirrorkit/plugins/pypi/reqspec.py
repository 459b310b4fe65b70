"""Checking a requirement string without paying for ``packaging`` when it is a plain one.

Importing ``packaging.requirements`` costs tens of milliseconds, a large share of a no-op
run's budget, and options are validated on every run. Plain requirements (a name, extras,
version clauses) are recognised by one regular expression that only admits strings
``packaging`` also accepts; anything else (markers, URLs, odd spacing) goes to
``packaging`` for a verdict and its error message.
"""

from __future__ import annotations

import re

__all__ = ["check_requirement", "split_plain"]

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_VERSION = r"[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
_CLAUSE = (rf"(?:(?:==|!=)\s*{_VERSION}(?:\.\*)?|(?:<=|>=|<|>)\s*{_VERSION}"
           rf"|~=\s*[0-9]+(?:\.[0-9]+)+)")
_PLAIN = re.compile(
    rf"^(?P<name>{_NAME})\s*(?:\[(?P<extras>\s*{_NAME}\s*(?:,\s*{_NAME}\s*)*)\])?\s*"
    rf"(?P<spec>{_CLAUSE}(?:\s*,\s*{_CLAUSE})*)?\s*$")


def split_plain(text: str) -> tuple[str, list[str], str] | None:
    """``(name, extras, specifier)`` of a plain requirement, else None."""
    m = _PLAIN.match(text)
    if m is None:
        return None
    extras = [e.strip() for e in (m["extras"] or "").split(",") if e.strip()]
    return m["name"], extras, re.sub(r"\s+", "", m["spec"] or "")


def check_requirement(text: str) -> str:
    """``text`` if it is a requirement the mirror can follow; ValueError otherwise."""
    text = text.strip()
    if split_plain(text) is not None:
        return text
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "invalid"
        raise ValueError(f"{text!r} is not a requirement: {reason}") from None
    if req.url:
        raise ValueError(f"{text!r}: direct URL requirements cannot be mirrored")
    return text
