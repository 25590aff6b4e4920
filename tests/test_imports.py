"""The import graph of src/qa (read with ast, every import counted, those inside functions too): no cycle
between modules or packages, and no import from a lower layer to a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

# Lowest first. A module may import its own layer's modules and any lower layer's, never a higher one.
LAYERS = [
    {"qa.errors", "qa.config", "qa.cache"},
    {"qa.ingest"},
    {"qa.embed"},
    {"qa.store"},
    {"qa.search"},
    {"qa.wiring"},
    {"qa.serve", "qa.evaluation", "qa.eval_report"},
    {"qa.cli"},
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "qa").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _targets(name: str, path: Path, node: ast.AST, modules: dict[str, Path]) -> list[str]:
    """The modules of src/qa that one import statement of module `name` loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - node.level + 1] if node.level else []
    stem = ".".join(base + (node.module.split(".") if node.module else []))
    found = [f"{stem}.{a.name}" for a in node.names if f"{stem}.{a.name}" in modules]
    return found or ([stem] if stem in modules else [])


def import_graph() -> dict[str, set[str]]:
    """Module → the modules of src/qa it imports (the package root `qa` left out: Python loads it before
    any module of the package, so an import of it, e.g. `__version__`, adds no order of its own)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        if name == "qa":
            continue
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(_targets(name, path, node, modules))
        graph[name] = targets - {"qa", name}
    return graph


def layer_of(module: str) -> int:
    for number, layer in enumerate(LAYERS):
        if any(module == top or module.startswith(top + ".") for top in layer):
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` (its nodes in order), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_runs_up_a_layer():
    upward = sorted(f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
                    for a, targets in import_graph().items() for b in targets if layer_of(b) > layer_of(a))
    assert upward == []


def test_no_cycle_between_modules():
    assert _cycle(import_graph()) is None


def test_no_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for a, targets in import_graph().items():
        top = ".".join(a.split(".")[:2])
        packages.setdefault(top, set()).update(".".join(b.split(".")[:2]) for b in targets)
    assert _cycle({a: bs - {a} for a, bs in packages.items()}) is None


@pytest.mark.parametrize("graph, cycle", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b"}, "b": set(), "c": {"b"}}, None),
])
def test_the_cycle_finder_finds_cycles(graph, cycle):
    assert _cycle(graph) == cycle


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "qa.store.index" in graph["qa.wiring"]  # imported inside LocalFolder's methods
    assert "qa.search.retrieval" in graph["qa.wiring"]


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}
