"""How request data flows through a method of an object that serves requests: which attributes of self,
of the class or of module objects it stores request data in (TL101)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterator

from tenantlint.trees import child_nodes, parameter_names, statement_children, walk

REQUEST_PARAMS = frozenset({"request", "scope"})
MUTATORS = frozenset({
    "append", "extend", "insert", "add", "update", "setdefault", "appendleft", "extendleft", "__setitem__",
})
KEYED_MUTATORS = frozenset({"setdefault", "__setitem__"})


@dataclass
class Store:
    """One write: `node` is what gets reported, `root` the name or `type(...)` call the written chain starts at."""

    node: ast.AST
    text: str
    root: ast.expr | None
    attrs: list[str]
    rebinds: bool
    derived: bool
    declared_global: bool = False
    collects: bool = False

    @property
    def verb(self) -> str:
        return "added to" if self.collects else "stored on"

    def consequence(self, unit: str) -> str:
        return f"every {unit}'s data collects in it" if self.collects else f"concurrent {unit}s overwrite each other"


class RequestFlow:
    """Which values in one function come from the request, and what the function writes.

    Intra-procedural and flow-insensitive: a local is request-derived if any assignment gives
    it a request-derived value. A write counts as request-derived when its value is; a plain
    `=` or `setattr` also when it sits under an `if`/`while`/`for`/`match` whose condition is
    (`if request.user.is_superuser: self.readonly_fields = ()`), since the request then chooses
    what overwrites the previous value. Counters and appends under such a condition do not count.
    """

    def __init__(self, func: ast.FunctionDef | ast.AsyncFunctionDef, tainted: set[str], self_name: str | None = None,
                 tainted_attributes: frozenset[str] = frozenset()):
        """`tainted_attributes`: attributes of the method's object that other methods of its class store
        request-derived values in (`self.request = request` elsewhere makes `self.request.user` derived)."""
        self.func = func
        self.self_name = self_name
        self.names = set(tainted)
        positional = [*func.args.posonlyargs, *func.args.args]
        self._receiver = positional[0].arg if positional else None
        # (object name, attribute) -> from where on it holds request-derived values: `self.role = ...request...`
        # then `self.role` (a read before the store, `original = self.role`, reads what was there before)
        self.attributes = {(self._receiver, attr): (0, 0) for attr in tainted_attributes}
        has_source_attribute = bool(tainted_attributes)
        bindings: list[tuple[ast.expr, ast.expr]] = []
        for node in walk(func):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
                # `found[key].append(value)`: the local container now holds the value
                bindings += [(node.func.value, value) for value in [*node.args, *(k.value for k in node.keywords)]]
            if isinstance(node, ast.Assign):
                bindings += [(t, node.value) for t in node.targets]
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value is not None:
                bindings.append((node.target, node.value))
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                bindings.append((node.target, node.iter))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                bindings.append((node.optional_vars, node.context_expr))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and node is not func:
                self.names |= {p for p in parameter_names(node) if p in REQUEST_PARAMS}
            elif self._is_source(node):
                has_source_attribute = True
        self.has_sources = has_source_attribute or bool(self.names)
        if self.has_sources:
            self._propagate(bindings)

    def derived(self, expr: ast.AST | None) -> bool:
        if expr is None:
            return False
        return any((isinstance(node, ast.Name) and node.id in self.names) or self._is_source(node)
                   or (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                       and self.attributes.get((node.value.id, node.attr), (1 << 30, 0)) <= (node.lineno, node.col_offset))
                   for node in walk(expr))

    def _is_source(self, node: ast.AST) -> bool:
        """`self.request` / `self.scope` in a view or consumer method."""
        return (self.self_name is not None and isinstance(node, ast.Attribute) and node.attr in REQUEST_PARAMS
                and isinstance(node.value, ast.Name) and node.value.id == self.self_name)

    def _propagate(self, bindings: list[tuple[ast.expr, ast.expr]]) -> None:
        changed = True
        while changed:
            changed = False
            for target, value in bindings:
                names = (_bound_names(target) | self._filled_container(target)) - self.names
                attribute = _attribute_of_name(target)
                fresh = attribute is not None and attribute not in self.attributes
                if (names or fresh) and self.derived(value):
                    self.names |= names
                    if fresh:
                        self.attributes[attribute] = (target.lineno, target.col_offset)
                    changed = True

    def _filled_container(self, target: ast.expr) -> set[str]:
        """`found[key] = ...`, `found[key].append(...)`: the local `found` (not the method's own object)."""
        if not isinstance(target, ast.Subscript):
            return set()
        root = target
        while isinstance(root, (ast.Subscript, ast.Attribute)):
            root = root.value
        return {root.id} if isinstance(root, ast.Name) and root.id != self._receiver else set()

    # -- writes ----------------------------------------------------------
    def stores(self) -> Iterator[Store]:
        yield from self._block(self.func.body, False, declared_globals(self.func))

    def self_calls(self, self_name: str) -> Iterator[ast.Call]:
        for node in walk(self.func):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == self_name):
                yield node

    def _block(self, body: list[ast.stmt], guarded: bool, globals_: set[str]) -> Iterator[Store]:
        for stmt in body:
            yield from self._statement(stmt, guarded, globals_)

    def _statement(self, stmt: ast.stmt, guarded: bool, globals_: set[str]) -> Iterator[Store]:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from self._block(stmt.body, guarded, declared_globals(stmt))
            return
        if isinstance(stmt, ast.ClassDef):
            return
        for child in child_nodes(stmt):
            if isinstance(child, (ast.expr, ast.withitem)):
                yield from self._calls(child, guarded)
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                yield from self._targets(target, guarded or self.derived(stmt.value), globals_)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            yield from self._targets(stmt.target, guarded or self.derived(stmt.value), globals_)
        elif isinstance(stmt, ast.AugAssign):
            yield from self._targets(stmt.target, self.derived(stmt.value), globals_)
        else:
            condition = getattr(stmt, "test", None) or getattr(stmt, "iter", None) or getattr(stmt, "subject", None)
            inner = guarded or self.derived(condition)
            for name in ("body", "orelse", "finalbody"):
                yield from self._block(getattr(stmt, name, []), inner, globals_)
            for handler in getattr(stmt, "handlers", []):
                yield from self._block(handler.body, inner, globals_)
            for case in getattr(stmt, "cases", []):
                yield from self._block(case.body, inner, globals_)

    def _targets(self, target: ast.expr, derived: bool, globals_: set[str]) -> Iterator[Store]:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                yield from self._targets(element, derived, globals_)
        elif isinstance(target, ast.Starred):
            yield from self._targets(target.value, derived, globals_)
        elif isinstance(target, ast.Name):
            yield Store(target, target.id, target, [], True, derived, target.id in globals_)
        elif isinstance(target, ast.Attribute) or (isinstance(target, ast.Subscript) and not self._keyed(target)):
            yield _store(target, derived, globals_)

    def _keyed(self, target: ast.Subscript) -> bool:
        """`SITE_CACHE[host] = site`: a table keyed by the request, where each request writes its own entry."""
        while isinstance(target, ast.Subscript):
            if self.derived(target.slice):
                return True
            target = target.value
        return False

    def _calls(self, expr: ast.AST, guarded: bool) -> Iterator[Store]:
        for call in walk(expr):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            values = [*call.args, *(k.value for k in call.keywords)]
            if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
                keyed_receiver = isinstance(func.value, ast.Subscript) and self._keyed(func.value)
                if keyed_receiver or (func.attr in KEYED_MUTATORS and call.args and self.derived(call.args[0])):
                    continue
                store = _store(func.value, any(map(self.derived, values)), set())
                store.collects = True
                yield store
            elif is_setattr(func) and len(call.args) == 3:
                obj, attr, value = call.args
                store = _store(obj, guarded or self.derived(value), set())
                label = attr.value if isinstance(attr, ast.Constant) and isinstance(attr.value, str) else "<name>"
                store.node, store.text = call, f"{store.text}.{label}"
                store.attrs = [*store.attrs, label]
                yield store


def _store(target: ast.expr, derived: bool, globals_: set[str]) -> Store:
    """A write to an attribute/subscript chain, reported at its outermost attribute (`self.x` for `self.x[k]`)."""
    node = target
    while isinstance(node, ast.Subscript):
        node = node.value
    reported = node
    attrs = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
        node = node.value
    root = node if isinstance(node, ast.Name) or is_type_call(node) else None
    declared = isinstance(root, ast.Name) and root.id in globals_
    return Store(reported, ast.unparse(reported), root, attrs[::-1], False, derived, declared)


def _attribute_of_name(target: ast.expr) -> tuple[str, str] | None:
    """`obj.attr` as (obj, attr), for an attribute assigned on a plain name."""
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        return target.value.id, target.attr
    return None


def _bound_names(target: ast.expr) -> set[str]:
    """Names an assignment target binds: `a`, `a, *b`; not `self` in `self.x`."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*map(_bound_names, target.elts))
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    return set()


def declared_globals(func) -> set[str]:
    """Names a function declares `global`, not counting nested functions."""
    names: set[str] = set()
    pending = list(func.body)
    while pending:  # `global` is a statement: only statement blocks need looking into
        node = pending.pop()
        if isinstance(node, ast.Global):
            names.update(node.names)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            pending.extend(statement_children(node))
    return names


def is_setattr(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "setattr") or (
        isinstance(func, ast.Attribute) and func.attr == "__setattr__"
        and isinstance(func.value, ast.Name) and func.value.id == "object")


def is_type_call(node: ast.expr | None) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type"
            and len(node.args) == 1)
