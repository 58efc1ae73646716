"""No import cycles in ``bot``, ``workers`` or ``simulator``, not even hidden ones.

A cycle that only works because one side imports inside a function is still a cycle: the two
modules cannot be understood, tested or split apart on their own. So this walks every module with
``ast`` and counts imports at module level AND inside functions and methods. Relative imports are
resolved; ``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else
``pkg``. The only imports ignored are those under ``if TYPE_CHECKING:``: they are type-only and
never run, so they cannot take part in an import at run time.

Imports made through ``importlib`` are not seen, so our packages import their modules by name.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "workers", "simulator")

# An edge: importer -> imported, with where it was written (for the failure message).
Graph = dict[str, dict[str, str]]


def _module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of the packages: dotted name -> file."""
    out: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _Imports(ast.NodeVisitor):
    """Collects (dotted target, line) for every import, at any depth, except type-only ones."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.found: list[tuple[str, str | None, int]] = []  # (base, name or None, line)

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, None, node.lineno))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.module.split(".")
            if not self.is_package:
                parts = parts[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([node.module] if node.module else []))
        for alias in node.names:
            self.found.append((base, alias.name, node.lineno))


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``target`` that is one of our modules (None: outside them)."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in modules:
            return name
        parts.pop()
    return None


def module_graph(root: Path, packages: Iterable[str]) -> Graph:
    """Importer -> {imported: "file:line"} for every module of ``packages`` under ``root``."""
    modules = _module_files(root, packages)
    graph: Graph = {}
    for name, path in modules.items():
        visitor = _Imports(name, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        edges: dict[str, str] = {}
        for base, member, line in visitor.found:
            wanted = f"{base}.{member}" if member and f"{base}.{member}" in modules else base
            target = _resolve(wanted, modules)
            if target is not None and target != name:
                edges.setdefault(target, f"{path.relative_to(root)}:{line}")
        graph[name] = edges
    return graph


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return [_one_cycle(graph, component) for component in components]


def _one_cycle(graph: Graph, component: list[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component."""
    start = component[0]
    members = set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                return paths[v] + [start]
            if w in members and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover (Tarjan guarantees one)


def describe(graph: Graph, cycle: list[str]) -> str:
    """``a (where a imports b) -> b (where b imports a) -> a`` for a closed cycle."""
    steps = [f"{a} ({graph[a][b]})" for a, b in itertools.pairwise(cycle)]
    return " -> ".join([*steps, cycle[-1]])


def test_no_import_cycles() -> None:
    graph = module_graph(ROOT, PACKAGES)
    assert len(graph) > 50, "the walk found too few modules to be looking in the right place"
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(describe(graph, c) for c in cycles)


def test_detector_finds_a_planted_cycle(tmp_path: Path) -> None:
    """A cycle hidden in a function-level relative import is found; a type-only one is not."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import thing\n    return thing\n")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\nimport pkg.d\n"
    )
    (pkg / "d.py").write_text("class X:\n    def m(self):\n        import pkg.c\n")
    (pkg / "e.py").write_text(
        "import typing\nif typing.TYPE_CHECKING:\n    from . import a\nelse:\n    from . import d\n"
    )

    graph = module_graph(tmp_path, ["pkg"])

    assert graph["pkg.a"] == {"pkg.sub.b": "pkg/a.py:1"}
    assert graph["pkg.sub.b"] == {"pkg.a": "pkg/sub/b.py:2"}
    assert "pkg.a" not in graph["pkg.c"]
    assert set(graph["pkg.e"]) == {"pkg.d"}
    cycles = find_cycles(graph)
    assert sorted(sorted(c[:-1]) for c in cycles) == [["pkg.a", "pkg.sub.b"], ["pkg.c", "pkg.d"]]
    assert describe(graph, ["pkg.a", "pkg.sub.b", "pkg.a"]) == (
        "pkg.a (pkg/a.py:1) -> pkg.sub.b (pkg/sub/b.py:2) -> pkg.a"
    )
