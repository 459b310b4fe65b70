"""Plugins import only the public API: a third-party plugin can do what a built-in one does.

Every module under ``mirrorkit/plugins``, ``mirrorkit/sinks`` and ``mirrorkit/notify`` is
parsed, and every import counts (module level, under ``TYPE_CHECKING``, inside functions,
relative ones, and a name given to ``importlib.import_module``): none may reach
``mirrorkit.core``. A plugin may import another plugin (the Homebrew plugin reuses the git
plugin's planner), the standard library and third-party libraries.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mirrorkit"
PLUGIN_DIRS = ("plugins", "sinks", "notify")


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def imported_names(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module ``source`` (the text of ``module``) imports, relative imports resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module"
                   or getattr(node.func, "id", None) in ("import_module", "__import__"))):
            found.add(node.args[0].value)
    return found


def _reaches_core(name: str) -> bool:
    return name == "mirrorkit.core" or name.startswith("mirrorkit.core.")


def core_imports() -> dict[str, list[str]]:
    """Plugin module -> the ``mirrorkit.core`` modules it imports."""
    out: dict[str, list[str]] = {}
    for sub in PLUGIN_DIRS:
        for path in sorted((PACKAGE / sub).rglob("*.py")):
            module, is_package = _module_name(path, PACKAGE)
            bad = sorted(n for n in imported_names(path.read_text(), module, is_package)
                         if _reaches_core(n))
            if bad:
                out[module] = bad
    return out


def test_no_plugin_sink_or_notifier_imports_the_core() -> None:
    assert core_imports() == {}


def test_the_walk_sees_every_kind_of_core_import() -> None:
    sink = "mirrorkit.sinks.s3.sink"
    for source in (
        "from mirrorkit.core.store import lock",
        "import mirrorkit.core.store.lock",
        "from mirrorkit import core",
        "from ...core.store import lock",  # relative, three levels up from mirrorkit/sinks/s3
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mirrorkit.core import x",
        "def f():\n    from mirrorkit.core.store.lock import MirrorLock",
        "import importlib\nimportlib.import_module('mirrorkit.core.bundle.export')",
    ):
        names = imported_names(source, sink)
        assert any(_reaches_core(n) for n in names), source
    for source in ("from mirrorkit.api import hookimpl", "from ..bundle import sink",
                   "from mirrorkit.plugins.git.gitcmd import git", "import corelib"):
        assert not any(_reaches_core(n) for n in imported_names(source, sink)), source
    # a package's __init__ resolves relative imports from the package itself
    assert "mirrorkit.core" in imported_names("from ...core import x", "mirrorkit.sinks.s3",
                                              is_package=True)
