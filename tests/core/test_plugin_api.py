"""The plugin API is documented and pinned: what plugin authors import must not drift."""

from __future__ import annotations

import inspect
from pathlib import Path

import mirrorkit
from mirrorkit.core import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def hook_names() -> list[str]:
    return [name for name, obj in inspect.getmembers(hookspecs, inspect.isfunction)
            if name.startswith("mirrorkit_")]


def test_every_hook_is_documented_for_plugin_authors() -> None:
    text = DOCS.read_text()
    missing = [name for name in hook_names() if f"### {name}" not in text]
    assert missing == [], f"hooks without a section in docs/plugins.md: {missing}"


def test_every_hook_has_a_docstring() -> None:
    assert all(getattr(hookspecs, n).__doc__ for n in hook_names())


def test_public_api_is_pinned() -> None:
    assert sorted(mirrorkit.__all__) == sorted([
        "Artifact", "ArtifactError", "Digest", "FetchError", "Kind", "PlanContext", "PlanError",
        "RegistryCollection", "RegistryPlugin", "RunReport", "SinkCollection", "SinkContext",
        "SinkError", "SinkPlugin", "__version__", "hookimpl",
    ])
    for name in mirrorkit.__all__:
        assert hasattr(mirrorkit, name)
