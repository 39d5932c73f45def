"""What is known to hold at a point of a function, on every path that reaches it.

Rules that ask "is this use guarded?" (TL401, TL402, TL501, TL502) share this:
a guard counts only if every path to the use passes it, which in structured
code means either an enclosing `if` (or `and`, or conditional expression)
whose test holds there, or an earlier statement in an enclosing block that
leaves only when its test holds (`if not ok: raise`, `assert ok`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tenantlint.trees import child_nodes, walk


@dataclass(frozen=True)
class Atom:
    """`expr` is known to be truthy (`holds`) or falsy (not `holds`).

    A test that cannot be split into atoms (`a or b` known true) stays whole:
    rules may still look inside it, e.g. for a comparison of two tenants.
    """

    expr: ast.expr
    holds: bool


def atoms(expr: ast.expr, holds: bool) -> list[Atom]:
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
        return atoms(expr.operand, not holds)
    if isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.And) and holds:
        return [a for value in expr.values for a in atoms(value, True)]
    if isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.Or) and not holds:
        return [a for value in expr.values for a in atoms(value, False)]
    if isinstance(expr, ast.Compare) and len(expr.ops) == 1 and _is_none(expr.comparators[0]):
        if isinstance(expr.ops[0], ast.IsNot):
            return [Atom(expr, holds), *([Atom(expr.left, True)] if holds else [])]
        if isinstance(expr.ops[0], ast.Is):
            return [Atom(expr, holds), *([Atom(expr.left, True)] if not holds else [])]
    if isinstance(expr, ast.NamedExpr):
        return [Atom(expr, holds), *atoms(expr.value, holds)]
    return [Atom(expr, holds)]


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def always_exits(body: list[ast.stmt]) -> bool:
    """True when running `body` never falls through to the next statement."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, (ast.Raise, ast.Return, ast.Continue, ast.Break)):
        return True
    if isinstance(last, ast.If):
        return always_exits(last.body) and always_exits(last.orelse)
    if isinstance(last, (ast.With, ast.AsyncWith)):
        return always_exits(last.body)
    if isinstance(last, ast.Try):
        return (always_exits(last.body) or always_exits(last.orelse)) and all(always_exits(h.body) for h in last.handlers)
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        name = last.value.func
        return isinstance(name, (ast.Name, ast.Attribute)) and getattr(name, "id", getattr(name, "attr", "")) in {"abort", "exit", "_exit"}
    return False


def contains(node: ast.AST, target: ast.AST) -> bool:
    return any(child is target for child in walk(node))


def known_at(function: ast.FunctionDef | ast.AsyncFunctionDef, target: ast.AST) -> list[Atom]:
    """The atoms that hold whenever execution reaches `target` inside `function`."""
    return _in_block(function.body, target) or []


def _in_block(body: list[ast.stmt], target: ast.AST) -> list[Atom] | None:
    for index, statement in enumerate(body):
        if not contains(statement, target):
            continue
        facts: list[Atom] = []
        for earlier in body[:index]:
            facts += _facts_after(earlier)
        return facts + _facts_inside(statement, target)
    return None


def _facts_after(statement: ast.stmt) -> list[Atom]:
    if isinstance(statement, ast.If):
        body_exits, else_exits = always_exits(statement.body), always_exits(statement.orelse)
        if body_exits and not else_exits:
            return atoms(statement.test, False) + (_block_facts(statement.orelse) if statement.orelse else [])
        if else_exits and not body_exits:
            return atoms(statement.test, True) + _block_facts(statement.body)
    if isinstance(statement, ast.Assert):
        return atoms(statement.test, True)
    if isinstance(statement, (ast.With, ast.AsyncWith)):
        return _block_facts(statement.body)
    if isinstance(statement, ast.Try) and not statement.handlers:
        return _block_facts(statement.body)
    if isinstance(statement, ast.Try) and all(always_exits(handler.body) for handler in statement.handlers):
        # Falling through means the body (and `else`) ran to the end: no handler returns here.
        return _block_facts(statement.body) + _block_facts(statement.orelse)
    return []


def _block_facts(body: list[ast.stmt]) -> list[Atom]:
    """Facts established by a block that falls through, e.g. guards inside a `with` or an `else`."""
    return [atom for statement in body for atom in _facts_after(statement)]


def _facts_inside(statement: ast.stmt, target: ast.AST) -> list[Atom]:
    if statement is target:
        return []
    if isinstance(statement, (ast.If, ast.While)):
        if any(contains(s, target) for s in statement.body):
            return atoms(statement.test, True) + (_in_block(statement.body, target) or [])
        if any(contains(s, target) for s in statement.orelse):
            return atoms(statement.test, False) + (_in_block(statement.orelse, target) or [])
        return _in_expression(statement.test, target)
    for field in ("body", "orelse", "finalbody"):
        block = getattr(statement, field, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            found = _in_block(block, target)
            if found is not None:
                return found
    for handler in getattr(statement, "handlers", []):
        found = _in_block(handler.body, target)
        if found is not None:
            return found
    for case in getattr(statement, "cases", []):
        found = _in_block(case.body, target)
        if found is not None:
            return found
    return _in_expression(statement, target)


def _in_expression(node: ast.AST, target: ast.AST) -> list[Atom]:
    """Conditions from `and`/`or` chains and conditional expressions around `target`."""
    facts: list[Atom] = []
    while node is not target:
        if isinstance(node, ast.IfExp):
            if contains(node.body, target):
                facts += atoms(node.test, True)
                node = node.body
                continue
            if contains(node.orelse, target):
                facts += atoms(node.test, False)
                node = node.orelse
                continue
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                if contains(value, target):
                    node = value
                    break
                facts += atoms(value, isinstance(node.op, ast.And))
            continue
        child = next((c for c in child_nodes(node) if contains(c, target)), None)
        if child is None:
            break
        node = child
    return facts


class Locals:
    """The expression each local name was last assigned before a point of a function.

    Source order stands in for paths: `request = self.context.get('request')` and the
    uses after it are how guards and writes are spelt in practice. Shared by rules that
    follow a value through locals (`user = request.user`).
    """

    def __init__(self, function: ast.FunctionDef | ast.AsyncFunctionDef):
        # name -> (end of the binding, value, whether it runs on every path: a statement of the body itself)
        self._bindings: dict[str, list[tuple[tuple[int, int], ast.expr, bool]]] = {}
        unconditional = {id(statement) for statement in function.body}
        self._branch_test: dict[int, ast.expr] = {}  # value -> the test of the innermost `if` it is assigned in
        for branch in walk(function):
            if isinstance(branch, ast.If):
                for inner in (*branch.body, *branch.orelse):
                    for node in walk(inner):
                        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                            self._branch_test[id(node.value)] = branch.test
        for node in walk(function):
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            for target in targets:
                if isinstance(target, ast.Name):
                    end = (node.end_lineno or node.lineno, node.end_col_offset or node.col_offset)
                    self._bindings.setdefault(target.id, []).append((end, value, id(node) in unconditional))
        for entries in self._bindings.values():
            entries.sort(key=lambda entry: entry[0])

    def value_of(self, name: ast.Name) -> ast.expr | None:
        """The value `name` holds where it is read, or None if it is not assigned before (a parameter)."""
        point = (name.lineno, name.col_offset)
        found = None
        for end, value, _ in self._bindings.get(name.id, ()):
            if end <= point:
                found = value
        return found

    def values_of(self, name: ast.Name) -> list[tuple[ast.expr, ast.expr | None]]:
        """Every value `name` may hold where it is read, latest first, each with the test of the `if` it was
        assigned under (None: not in an `if`): the last assignment before the read, and earlier ones while the
        later were made in a branch (`if ...: user = request.user else: user = None`)."""
        point = (name.lineno, name.col_offset)
        found: list[ast.expr] = []
        for end, value, unconditional in self._bindings.get(name.id, ()):
            if end <= point:
                found = [value] if unconditional else [value, *found]
        return [(value, self._branch_test.get(id(value))) for value in found]
