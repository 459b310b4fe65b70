"""The package has no import cycles: every module can be imported on its own, in any order.

Every import counts: at module level (a cycle there fails at import time, or works only by
accident of which module came first), under ``TYPE_CHECKING`` and inside functions (a cycle
there still means two modules that cannot be understood, tested or moved apart).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mirrorkit"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycles_inside_mirrorkit() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_core_does_not_import_the_builtin_notifiers_or_the_cli() -> None:
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("mirrorkit.core"):
            assert not {t for t in targets if t.startswith(("mirrorkit.notify",
                                                            "mirrorkit.cli"))}, name


def test_the_walk_sees_a_cycle_when_there_is_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    assert "mirrorkit.core.store.manifest" in graph["mirrorkit.core.run.engine"]
    assert "mirrorkit.api" in graph["mirrorkit.plugins.homebrew"]


def test_type_only_and_deferred_imports_count() -> None:
    """A cycle through ``TYPE_CHECKING`` or a function-level import is a cycle too."""
    graph = import_graph()
    # the run loop imports the downloader inside a function, the context's services only
    # for type checking: both are edges
    assert "mirrorkit.core.fetch.downloader" in graph["mirrorkit.core.run.engine"]
    assert "mirrorkit.core.store.previous" in graph["mirrorkit.core.plan.context"]
