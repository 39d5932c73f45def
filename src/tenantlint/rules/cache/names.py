"""Name bindings of one module, as TL201 follows a key's parts back to where they were assigned."""

from __future__ import annotations

import ast
import bisect
from dataclasses import dataclass
from typing import Iterator

from tenantlint.model.project import resolve_relative
from tenantlint.rules.cache.key_shapes import FUNCTIONS, NESTED_SCOPES, Where, end_of, start_of
from tenantlint.trees import child_nodes, statement_children, walk


@dataclass(frozen=True)
class Binding:
    """One statement that binds a name in a scope."""

    kind: str  # "assign", "augment", "param", "import", "def", "global", "nonlocal" or "other"
    start: tuple[int, int]
    end: tuple[int, int]
    node: ast.AST | None = None  # the assigned value, or the function defined
    target: str | None = None  # dotted name of a function-level import
    op: ast.operator | None = None


def collect_bindings(scope: ast.AST, package: str, walrus: bool = True) -> dict[str, NameBindings]:
    """Every binding of every name directly in `scope` (nested functions and classes excluded);
    without `walrus` (no `:=` in the file) the walk skips expressions, where nothing else binds."""
    found: dict[str, list[Binding]] = {}
    is_module = isinstance(scope, ast.Module)

    def bind(name: str, binding: Binding) -> None:
        found.setdefault(name, []).append(binding)

    def bind_target(target: ast.expr, statement: ast.AST, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name) and value is not None:
            bind(target.id, Binding("assign", start_of(statement), end_of(statement), value))
            return
        for name in walk(target):
            if isinstance(name, ast.Name):
                bind(name.id, Binding("other", start_of(statement), end_of(target)))

    if isinstance(scope, FUNCTIONS):
        arguments = scope.args
        for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                         arguments.vararg, arguments.kwarg]:
            if argument is not None:
                bind(argument.arg, Binding("param", (0, 0), (0, 0)))
        pending = [scope.body] if isinstance(scope, ast.Lambda) else list(scope.body)
    else:
        pending = list(scope.body)
    pending.reverse()
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "other" if isinstance(node, ast.ClassDef) else "def"
            bind(node.name, Binding(kind, start_of(node), end_of(node), node))
            continue
        if isinstance(node, NESTED_SCOPES):
            continue
        if isinstance(node, ast.Assign):
            for target in node.targets:
                bind_target(target, node, node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            bind_target(node.target, node, node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            bind(node.target.id, Binding("augment", start_of(node), end_of(node), node.value, op=node.op))
        elif isinstance(node, ast.NamedExpr):
            bind(node.target.id, Binding("assign", start_of(node), end_of(node), node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            bind_target(node.target, node, None)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bind_target(node.optional_vars, node.optional_vars, None)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bind(node.name, Binding("other", start_of(node), start_of(node)))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for name, target in _imported(node, package):
                bind(name, Binding("import", start_of(node), end_of(node), target=None if is_module else target))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            kind = "global" if isinstance(node, ast.Global) else "nonlocal"
            for name in node.names:
                bind(name, Binding(kind, start_of(node), start_of(node)))
        if walrus:
            pending.extend(reversed(list(child_nodes(node))))
        else:
            pending.extend(reversed(statement_children(node)))
            if isinstance(node, (ast.With, ast.AsyncWith)):
                pending.extend(node.items)
    return {name: NameBindings(bindings) for name, bindings in found.items()}


class NameBindings(list):
    """One name's bindings in a scope, ordered by where they end, with what every read asks of them."""

    def __init__(self, bindings: list[Binding]):
        super().__init__(sorted(bindings, key=lambda binding: binding.end))
        self.ends = [binding.end for binding in self]
        self.has_global = any(binding.kind == "global" for binding in self)
        self.has_nonlocal = any(binding.kind == "nonlocal" for binding in self)

    def until(self, position: tuple[int, int] | None) -> list[Binding]:
        """The bindings that end before `position` (all of them when it is unknown)."""
        return self if position is None else self[: bisect.bisect_right(self.ends, position)]


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> Iterator[tuple[str, str]]:
    """(bound name, dotted target) for each name an import statement binds."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            top = alias.name.split(".")[0]
            yield (alias.asname, alias.name) if alias.asname else (top, top)
        return
    base = resolve_relative(package, node.module, node.level)
    for alias in node.names:
        if alias.name != "*" and base is not None:
            yield alias.asname or alias.name, f"{base}.{alias.name}" if base else alias.name


class ModuleNames:
    """The name bindings of one module, read where a name is used: which assignment, parameter or import
    reaches a read, and the dotted name an expression stands for through the imports."""

    def __init__(self, ctx):
        self.ctx = ctx
        self._bindings: dict[int, dict[str, NameBindings]] = {}
        self._folds: dict[tuple, object] = {}
        self._canonical: dict[str, str] = {}
        # without `:=` in the text no expression binds a name: the walk for bindings stays at the statements
        self._walrus = ":=" in ctx.source.text

    def bindings(self, scope: ast.AST) -> dict[str, "NameBindings"]:
        found = self._bindings.get(id(scope))
        if found is None:
            found = self._bindings[id(scope)] = collect_bindings(scope, self._package(), self._walrus)
        return found

    def _package(self) -> str:
        module = self.ctx.module
        return module.name if module.is_package else module.name.rpartition(".")[0]

    def resolve(self, name: str, where: Where) -> tuple[list[Binding], Where] | None:
        """The bindings of `name` that can reach `where`, and where to read their values (position unset)."""
        if name in where.opaque:
            return None
        for index, scope in enumerate(where.scopes):
            bindings = self.bindings(scope).get(name)
            if not bindings:
                continue
            if bindings.has_global:
                # `global name`: assignments made here before the read still count, else the module's
                earlier = [b for b in bindings if b.kind != "global" and where.before is not None
                           and b.end <= where.before] if index == 0 else []
                if earlier:
                    return earlier, Where(where.scopes, None, arguments=where.arguments)
                break
            if bindings.has_nonlocal:
                continue
            if index > 0:
                return bindings, Where(where.scopes[index:], None)
            return bindings.until(where.before), Where(where.scopes, None, arguments=where.arguments)
        bindings = self.bindings(self.ctx.tree).get(name)
        if not bindings:
            return None
        return bindings.until(where.before) if not where.scopes else bindings, Where((), None)

    def qualified(self, node: ast.expr, where: Where) -> str | None:
        """The dotted name of `a.b.c` through imports, or None when `a` is not an import here."""
        parts = []
        head = node
        while isinstance(head, ast.Attribute):
            parts.append(head.attr)
            head = head.value
        if not isinstance(head, ast.Name):
            return None
        resolved = self.resolve(head.id, where)
        if not resolved or not resolved[0] or resolved[0][-1].kind != "import":
            return None
        binding = resolved[0][-1]
        dotted = ".".join([binding.target, *reversed(parts)]) if binding.target else self.ctx.imports.qualify(node)
        return self._follow_reexports(dotted) if dotted else None

    def _follow_reexports(self, dotted: str) -> str:
        """`from core.caching import cache` where core/caching.py imports Django's cache."""
        if dotted not in self._canonical:
            current = dotted
            for _ in range(5):
                if current.startswith("django."):
                    break
                module_name, _, name = current.rpartition(".")
                module = self.ctx.project.module(module_name) if module_name else None
                target = module.imports.bindings.get(name) if module else None
                if not target or target == current:
                    break
                current = target
            self._canonical[dotted] = current
        return self._canonical[dotted]

    def fold(self, purpose: tuple, bindings: list[Binding], scope: Where, initial, step):
        """`step` applied to `initial` and each of `bindings` in turn, remembered for every prefix: a
        name bound N times and read after each binding costs N steps in all, not N²."""
        base = (purpose, tuple(map(id, scope.scopes)), scope.before, scope.opaque, scope.arguments)
        known = len(bindings)
        while known and (base, known, id(bindings[known - 1])) not in self._folds:
            known -= 1
        state = self._folds[(base, known, id(bindings[known - 1]))] if known else initial
        for index in range(known, len(bindings)):
            state = step(state, bindings[index])
            self._folds[(base, index + 1, id(bindings[index]))] = state
        return state
