"""docs/plugins.md: its registry example runs as written, and it covers every public helper."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mirrorkit.api import Artifact
from mirrorkit.testing import Upstream, run_mirror_for_test

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _registry_example(tmp_path: Path) -> ModuleType:
    text = DOCS.read_text()
    section = text.split("## Registry plugins", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    path = tmp_path / "docs_example_plugin.py"
    path.write_text(code.group(1))
    spec = importlib.util.spec_from_file_location("docs_example_plugin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_registry_example_runs_as_written(tmp_path: Path) -> None:
    import hashlib

    plugin = _registry_example(tmp_path)
    with Upstream() as up:
        entries = []
        for name, body in (("a/x.txt", b"x"), ("b/y.txt", b"yy")):
            up.add(f"/f/{name}", body)
            entries.append({"path": name, "url": f"f/{name}",
                            "sha256": hashlib.sha256(body).hexdigest()})
        up.add("/index.json", json.dumps(entries).encode())
        report = run_mirror_for_test("my-registry", tmp_path / "m", plugins=[plugin],
                                     index_url=up.url + "/index.json", prefixes=["a/"])
    assert report.status == "ok", report.errors
    assert (tmp_path / "m" / "a/x.txt").read_bytes() == b"x"
    assert not (tmp_path / "m" / "b").exists()
    with pytest.raises(Exception, match="expected a JSON list"):
        plugin.parse(b"{}", "index")


def test_every_constructor_is_documented_with_its_signature() -> None:
    import inspect

    text = DOCS.read_text()
    for name in ("blob", "index", "local", "link"):
        params = [p for p in inspect.signature(getattr(Artifact, name)).parameters]
        line = next((ln for ln in text.splitlines() if f"`Artifact.{name}(" in ln), "")
        assert line, name
        for param in params:
            assert param in line, (name, param)


def test_the_guidance_plugin_authors_asked_for_is_there() -> None:
    text = DOCS.read_text()
    for needle in ("**Generated files**", "**Dry runs**", "`metavar`", "`cli`",
                   "API_REVISION", "MIRRORKIT_DISABLE_PLUGINS", "mirrorkit.testing"):
        assert needle in text, needle
    assert "Repeatable. Repeatable." not in text
