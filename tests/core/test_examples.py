"""The example files users copy must stay valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorkit.core.config.model import load_config
from mirrorkit.core.plugin.host import load_plugins

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "https://hooks.example.org/T0/B0")
    mirrors = load_config(ROOT / "examples" / "mirrors.toml", load_plugins())
    assert [m.name for m in mirrors] == ["homebrew", "tools-git", "static", "python"]
    assert mirrors[2].settings.concurrency == 8  # per-mirror settings override [settings]
    assert mirrors[0].settings.concurrency == 32
