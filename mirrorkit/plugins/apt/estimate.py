"""Sizes as the apt-mirror size-estimate wrappers print them ("10.00 GB", decimal units)."""

from __future__ import annotations

__all__ = ["readable_size"]

_UNITS = ("bytes", "KB", "MB", "GB", "TB", "PB")


def readable_size(count: int) -> str:
    value = float(count)
    for unit in _UNITS:
        if value < 1000 or unit == _UNITS[-1]:
            return f"{count} bytes" if unit == "bytes" else f"{value:.2f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
