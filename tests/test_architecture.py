"""The layout design.md asks for, checked on the source: the floors, no import circle, no oversized class
or module. Every import counts, those made inside functions and under TYPE_CHECKING too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src"
# the floor every other stands on: what a finding, a file, a syntax tree and the configuration are
FOUNDATION = {"tenantlint", "tenantlint.config", "tenantlint.diagnostics", "tenantlint.sourcefile",
              "tenantlint.trees", "tenantlint.results", "tenantlint.store"}
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 300


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules `name` imports (a name imported from a package counts as its module when it is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*head, base] if base else head)
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _floor(name: str) -> str:
    if name in FOUNDATION:
        return "foundation"
    if name.startswith("tenantlint.model"):
        return "model"
    if name == "tenantlint.rules.base" or name.startswith("tenantlint.rules.edits"):
        return "rule base"
    if name.startswith("tenantlint.rules."):
        return "family " + name.split(".")[2]
    if name == "tenantlint.rules":
        return "catalogue"
    return "front"


# what each floor may import besides itself
ALLOWED = {
    "foundation": {"foundation"},
    "model": {"foundation", "model"},
    "rule base": {"foundation", "model", "rule base"},
    "catalogue": {"foundation", "model", "rule base"},  # it imports the families by walking the folders
}


def test_no_module_imports_a_floor_above_its_own():
    wrong = []
    for name, imported in GRAPH.items():
        floor = _floor(name)
        allowed = ALLOWED.get(floor, {"foundation", "model", "rule base"} if floor.startswith("family") else None)
        if allowed is None:
            continue  # engine, fixing, runner, CLI, reports, plugins: above everything
        wrong += [f"{name} ({floor}) imports {other} ({_floor(other)})" for other in sorted(imported)
                  if _floor(other) not in allowed | {floor}]
    assert wrong == []


def test_no_import_circle():
    """Tarjan's strongly connected components of the import graph: each must be one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in GRAPH[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert circles == []


def _code_lines(node: ast.ClassDef) -> int:
    """A class's lines without its text-valued attributes: a rule's metadata and examples are its documentation."""
    text = sum(item.end_lineno - item.lineno + 1 for item in node.body
               if isinstance(item, (ast.Assign, ast.AnnAssign, ast.Expr)) and _is_text(item.value))
    return node.end_lineno - node.lineno + 1 - text


def _is_text(value: ast.expr | None) -> bool:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return True
    return isinstance(value, (ast.Tuple, ast.List)) and all(_is_text(element) for element in value.elts)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_and_class_sizes(name):
    path = MODULES[name]
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    assert lines <= MAX_MODULE_LINES, f"{path.name} has {lines} lines"
    big = [(node.name, _code_lines(node)) for node in ast.walk(ast.parse(text))
           if isinstance(node, ast.ClassDef) and _code_lines(node) > MAX_CLASS_LINES]
    assert big == []


def test_every_rule_module_sits_in_a_family_folder():
    loose = [name for name in MODULES if name.split(".")[-1][:2] == "tl" and len(name.split(".")) != 4]
    assert loose == []
