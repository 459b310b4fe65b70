"""One size syntax for every size a user types (``64MiB``, ``3.5GiB``, ``700MB``, ``1048576``)
and one way to print sizes, so a flag, a TOML key and a summary line all speak alike."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ByteSize, TypeAdapter, ValidationError

__all__ = ["Size", "format_size", "parse_size"]

_BYTES = TypeAdapter(ByteSize)


def parse_size(value: Any) -> int:
    """A byte count from ``64MiB``/``3.5GiB``/``700MB``/``1048576`` (pydantic's ByteSize rules;
    ``MiB`` is 1024², ``MB`` 1000²). Raises ValueError with one line."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size (e.g. 64MiB, 3.5GiB)")
    try:
        return int(_BYTES.validate_python(value))
    except ValidationError:
        raise ValueError(f"{value!r} is not a size (e.g. 64MiB, 3.5GiB)") from None


#: A model field holding a size: accepts the syntax above, holds an int of bytes.
Size = Annotated[int, BeforeValidator(parse_size), "size"]


def format_size(n: int | None) -> str:
    """``1.5 MiB``; ``?`` when unknown."""
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns
