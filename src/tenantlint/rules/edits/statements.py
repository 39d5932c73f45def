"""Where the TL401 and TL402 guards go, decided on the `ast` while checking.

A finding offers a fix only when this finds a place for the guard, so the fix is
never offered where it cannot be applied. The LibCST side (`_audit_guard_fix`)
is imported only when fixing; it places what is planned here, found again by
position in the text being fixed.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass

from tenantlint.diagnostics import char_column
from tenantlint.model.flow import contains
from tenantlint.trees import child_nodes, per_tree, walk

Function = ast.FunctionDef | ast.AsyncFunctionDef
# Statements that open a scope: a guard's `return` must stay out of them.
SCOPE_STATEMENTS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_STDLIB, _THIRD_PARTY, _FIRST_PARTY, _RELATIVE = 1, 2, 3, 4


@dataclass(frozen=True)
class Insert:
    """`code` (statements) goes before or after `anchor`, a statement of the module.

    `separate`: the inserted code stands apart from `anchor` by a blank line (an
    import in a group of its own, the logger after the imports).
    """

    code: str
    anchor: ast.stmt
    after: bool = False
    separate: bool = False


@dataclass(frozen=True)
class Rewrite:
    """The guarded value `self.context['request'].user` becomes `<request>.user`."""

    value: ast.Attribute
    request: str


@dataclass(frozen=True)
class Replace:
    """`statement` (a whole line) gives way to `code`, keeping its comments."""

    statement: ast.stmt
    code: str


@dataclass(frozen=True)
class Wrap:
    """`statement` runs only when `condition` holds; otherwise `otherwise` (statements) runs instead."""

    statement: ast.stmt
    condition: str
    otherwise: str


Change = Insert | Rewrite | Replace | Wrap


def span(node: ast.AST, lines: list[str]) -> tuple[int, int, int, int]:
    """A node's start and end in characters, as diagnostics and LibCST give them."""
    return (node.lineno, char_column(lines[node.lineno - 1], node.col_offset),
            node.end_lineno, char_column(lines[node.end_lineno - 1], node.end_col_offset))


def starts_line(statement: ast.stmt, lines: list[str]) -> bool:
    """Only indentation precedes it: not the body of `if x: statement`, not the second of `a; statement`."""
    return not lines[statement.lineno - 1].encode("utf-8")[: statement.col_offset].strip()


def alone_on_lines(statement: ast.stmt, lines: list[str]) -> bool:
    """It starts its line and at most a comment follows it, so it can be replaced whole."""
    rest = lines[statement.end_lineno - 1].encode("utf-8")[statement.end_col_offset:].strip()
    return starts_line(statement, lines) and (not rest or rest.startswith(b"#"))


def spans_lines(node: ast.AST) -> bool:
    """A string literal over several lines: indenting its lines would change its text."""
    return isinstance(node, (ast.Constant, ast.JoinedStr)) and node.lineno != node.end_lineno and (
        isinstance(node, ast.JoinedStr) or isinstance(node.value, (str, bytes)))


def is_docstring(statement: ast.stmt) -> bool:
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str))


def bindings(scope: ast.AST, name: str) -> list[ast.expr | None]:
    """What each binding of `name` inside `scope` (nested scopes too) assigns.

    None stands for a binding that is not a plain assignment: a parameter, a loop
    target, an import, a definition, `global`.
    """
    return _names_in(scope).bound.get(name, [])


def reads(scope: ast.AST, name: str) -> bool:
    return name in _names_in(scope).read


@dataclass(frozen=True)
class _ScopeNames:
    bound: dict[str, list[ast.expr | None]]
    read: frozenset[str]


@per_tree
def _names_in(scope: ast.AST) -> _ScopeNames:
    """Every name `scope` binds (with what, in order) and reads, walked once: a fix asks about several
    names of the same function."""
    assigned: dict[ast.AST, ast.expr] = {}
    for node in walk(scope):
        if isinstance(node, ast.Assign):
            assigned.update((t, node.value) for t in node.targets if isinstance(t, ast.Name))
        elif (isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None
              and isinstance(node.target, ast.Name)):
            assigned[node.target] = node.value
    bound: dict[str, list[ast.expr | None]] = {}
    read: set[str] = set()
    for node in walk(scope):
        if node in assigned:
            bound.setdefault(node.id, []).append(assigned[node])
        elif node is not scope:
            for name in _bound_names(node):
                bound.setdefault(name, []).append(None)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            read.add(node.id)
    return _ScopeNames(bound, frozenset(read))


@per_tree
def module_names(tree: ast.Module) -> frozenset[str]:
    """Names bound at module level, by any statement outside functions and classes."""
    names: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        names.update(_bound_names(node))
        if not isinstance(node, (*SCOPE_STATEMENTS, ast.Lambda)):
            pending.extend(child_nodes(node))
    return frozenset(names)


def _bound_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [] if isinstance(node.ctx, ast.Load) else [node.id]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, SCOPE_STATEMENTS):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [alias.asname or alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return list(node.names)
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
        return [node.name]
    if isinstance(node, ast.MatchMapping) and node.rest:
        return [node.rest]
    return []


# -- where a guard goes ---------------------------------------------------------------

Point = tuple[ast.AST, str, int]  # (owner of a block, the block's field, index of a statement in it)


def statement_path(function: Function, target: ast.AST) -> list[Point]:
    """The statements of `function`'s own scope that contain `target`, outermost first.

    A nested function or class ends the path: its statement is where a guard can go.
    """
    path: list[Point] = []
    owner: ast.AST = function
    while True:
        found = next(((o, f, i) for o, f, block in _blocks(owner) for i, s in enumerate(block) if contains(s, target)),
                     None)
        if found is None:
            return path
        path.append(found)
        statement = statement_at(found)
        if isinstance(statement, SCOPE_STATEMENTS) and statement is not function:
            return path
        owner = statement


def statement_at(point: Point) -> ast.stmt:
    owner, field, index = point
    return getattr(owner, field)[index]


def _blocks(node: ast.AST):
    for field in ("body", "orelse", "finalbody"):
        block = getattr(node, field, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield node, field, block
    if type(node).__name__ != "TryStar":  # `return` is not allowed in an `except*` block
        for child in [*getattr(node, "handlers", []), *getattr(node, "cases", [])]:
            yield child, "body", child.body


def insertion_point(path: list[Point], lines: list[str]) -> Point | None:
    """The innermost statement on the path before which a new line can go.

    Before a statement every path to it passes, so a guard there holds wherever
    the statement runs. An `elif` or a statement sharing its line has no line of
    its own to go before; the enclosing statement does. So does a statement in a
    `finally` block, where a `return` would swallow the exception being raised.
    """
    for point in reversed(path):
        statement = statement_at(point)
        if starts_line(statement, lines) and not _is_elif(point, lines) and point[1] != "finalbody":
            return point
    return None


def _is_elif(point: Point, lines: list[str]) -> bool:
    owner, field, _ = point
    statement = statement_at(point)
    text = lines[statement.lineno - 1].encode("utf-8")[statement.col_offset:]
    return isinstance(owner, ast.If) and field == "orelse" and text.startswith(b"elif")


def dominates(point: Point, path: list[Point]) -> bool:
    """A guard before `point` runs before whatever `path` leads to: a later statement of its block, or inside one."""
    owner, field, index = point
    return any(o is owner and f == field and i >= index for o, f, i in path)


# -- module-level additions -----------------------------------------------------------------

def import_insert(tree: ast.Module, code: str, module: str, from_import: bool, first_party=None) -> Insert:
    """Where a new import goes: in its isort section, in order, among the module's leading imports.
    `first_party(top_level_name)` says which packages are the project's own (isort's first party);
    without it every package that is not the standard library's is one section."""
    section = _section(module, 0, first_party)
    key = (section, from_import, module)
    leading = leading_imports(tree)
    if not leading:
        return before_first_statement(tree, code)
    group = _group_for(leading, module, section, first_party)
    if group is not None:  # in order within the block of imports it belongs to
        keys = [_import_key(s, first_party) for s in group]
        index = next((i for i, k in enumerate(keys) if k > key), len(group))
        return Insert(code, group[index]) if index < len(group) else Insert(code, group[-1], after=True)
    keys = [_import_key(s, first_party) for s in leading]
    index = next((i for i, k in enumerate(keys) if k > key), len(leading))
    if index < len(leading) and keys[index][0] == section:
        return Insert(code, leading[index])
    if index > 0 and keys[index - 1][0] == section:
        return Insert(code, leading[index - 1], after=True)
    if index < len(leading):
        return Insert(code, leading[index], separate=True)
    return Insert(code, leading[-1], after=True, separate=True)


def _group_for(leading: list[ast.Import | ast.ImportFrom], module: str, section: int, first_party):
    """The block of imports (blank lines apart) a new import of `module` joins: the first that imports
    from its top-level package, else the first holding its isort section; None when none does. Where
    the module keeps its own packages in a block of their own (a first party isort would know), a third-
    party import so joins the third-party block, not the last one."""
    groups: list[list[ast.Import | ast.ImportFrom]] = []
    for statement in leading:
        if not groups or statement.lineno - groups[-1][-1].end_lineno > 1:
            groups.append([])
        groups[-1].append(statement)
    package = module.split(".")[0]
    for wanted in (lambda s: _import_key(s, first_party)[2].split(".")[0] == package,
                   lambda s: _import_key(s, first_party)[0] == section):
        found = next((group for group in groups if any(wanted(s) for s in group)), None)
        if found is not None:
            return found
    return None


def before_first_statement(tree: ast.Module, code: str) -> Insert:
    """At the head of a module without leading imports, after its docstring."""
    first = next((s for s in tree.body if not is_docstring(s)), None)
    if first is None:
        return Insert(code, tree.body[-1], after=True, separate=True)
    return Insert(code, first, separate=True)


def leading_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The imports at the head of the module, before its first other statement."""
    found = []
    for statement in tree.body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            found.append(statement)
        elif not is_docstring(statement):
            break
    return found


def _import_key(statement: ast.Import | ast.ImportFrom, first_party=None) -> tuple[int, bool, str]:
    if isinstance(statement, ast.Import):
        return _section(statement.names[0].name, 0, first_party), False, statement.names[0].name
    if statement.module == "__future__":
        return 0, True, ""
    return _section(statement.module or "", statement.level, first_party), True, statement.module or ""


def _section(module: str, level: int, first_party=None) -> int:
    if level:
        return _RELATIVE
    top = module.split(".")[0]
    if top in sys.stdlib_module_names:
        return _STDLIB
    return _FIRST_PARTY if first_party is not None and first_party(top) else _THIRD_PARTY

