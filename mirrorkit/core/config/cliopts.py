"""Command-line options generated from pydantic models.

A plugin's options model is the single source of truth: the same field is a TOML key and a
flag, with the field's description as help. ``list`` fields become repeatable flags (name
them with ``json_schema_extra={"cli": "--tag"}``), booleans become ``--x/--no-x``.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = ["collect_values", "flag_names", "options_for_model"]


def _flag(name: str, info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    cli = extra.get("cli")
    return str(cli) if cli else "--" + name.replace("_", "-")


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation) if a is not type(None))
    return False


def _is_bool(annotation: Any) -> bool:
    if annotation is bool:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args == [bool]
    return False


def _metavar(name: str, info: FieldInfo) -> str:
    """What the flag takes, not its name again: N, SECONDS, SIZE, URL, FILE, PATH..."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if extra.get("metavar"):
        return str(extra["metavar"])
    annotation = info.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if typing.get_origin(annotation) in (typing.Union, types.UnionType) and \
        len(args) == 1 else annotation
    if typing.get_origin(base) is typing.Annotated:
        base = typing.get_args(base)[0]
    description = (info.description or "").lower()
    if "size" in info.metadata:
        return "SIZE"
    if base is int:
        return "N"
    if base is float:
        return "SECONDS" if "second" in description or "timeout" in name else "N"
    if base is Path:
        return "DIR" if "directory" in description else "FILE"
    if name == "url" or name.endswith("_url") or getattr(base, "__name__", "") in (
            "HttpUrl", "AnyUrl", "AnyHttpUrl"):
        return "URL"
    return name.rsplit("_", 1)[-1].upper()


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return " [required]"
    if info.default_factory is not None or info.default is None:
        return ""
    default = info.default
    if isinstance(default, list | tuple) and not default:
        return ""
    return f" [default: {default}]"


def options_for_model(model: type[BaseModel], *, prefix: str = "") -> list[click.Option]:
    """One click option per field; values are left as None when not given."""
    opts: list[click.Option] = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("cli") is False:
            continue
        flag = _flag(name, info)
        help_text = (info.description or "") + _default_text(info)
        dest = prefix + name
        if _is_bool(info.annotation):
            base = flag[2:]
            opts.append(click.Option([f"--{base}/--no-{base}", dest], default=None,
                                     help=help_text))
        elif _is_list(info.annotation):
            metavar = str(extra.get("metavar") or flag[2:].upper().replace("-", "_"))
            if "repeatable" not in help_text.lower():
                help_text = (help_text + " Repeatable.").strip()
            opts.append(click.Option([flag, dest], multiple=True, default=(), metavar=metavar,
                                     help=help_text))
        else:
            opts.append(click.Option([flag, dest], default=None, metavar=_metavar(name, info),
                                     help=help_text))
    return opts


def collect_values(model: type[BaseModel], params: dict[str, Any], *,
                   prefix: str = "") -> dict[str, Any]:
    """The values the user actually gave, keyed by field name (defaults stay the model's)."""
    out: dict[str, Any] = {}
    for name in model.model_fields:
        value = params.get(prefix + name)
        if value is None or (isinstance(value, tuple) and not value):
            continue
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def flag_names(*models: type[BaseModel]) -> dict[str, str]:
    """Field name -> the flag that sets it, to word validation errors in the user's terms."""
    out: dict[str, str] = {}
    for model in models:
        for name, info in model.model_fields.items():
            out.setdefault(name, _flag(name, info))
    return out
