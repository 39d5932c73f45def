"""A name a textual fix needs, and the edit importing it when the module does not yet (isort's place)."""

from __future__ import annotations

import ast

from tenantlint.diagnostics import Edit, char_column
from tenantlint.rules.edits.statements import bindings, import_insert, leading_imports, module_names


_MODULE_LEVEL = ast.Module(body=[], type_ignores=[])  # code at module level binds no local name of its own


def imported_name(dotted: str, scope: ast.AST | None, ctx) -> tuple[str | None, list[Edit]]:
    """The local name of `dotted` usable in `scope` (a function; None: at module level), with the edits
    importing it; (None, []) when its name is taken there by something else."""
    scope = _MODULE_LEVEL if scope is None else scope
    local = next((n for n in ctx.imports.names_for(dotted) if not bindings(scope, n)), None)
    if local is not None:
        return local, []
    module, _, name = dotted.rpartition(".")
    if name in module_names(ctx.tree) or bindings(scope, name):
        return None, []
    joined = _join_import(ctx.tree, module, name, ctx.lines)
    if joined is not None:
        return name, [joined]
    insert = import_insert(ctx.tree, f"from {module} import {name}", module, True,
                           lambda top: ctx.project.find_module_path(top, ctx.path) is not None)
    anchor = insert.anchor
    if insert.after:
        return name, [Edit(anchor.end_lineno + 1, 0, anchor.end_lineno + 1, 0,
                           ("\n" if insert.separate else "") + insert.code + "\n")]
    return name, [Edit(anchor.lineno, 0, anchor.lineno, 0, insert.code + "\n" + ("\n" if insert.separate else ""))]


def _join_import(tree: ast.Module, module: str, name: str, lines: list[str]) -> Edit | None:
    """`name` added in order to a one-line `from module import a, b` among the leading imports."""
    for statement in leading_imports(tree):
        if (isinstance(statement, ast.ImportFrom) and statement.module == module and not statement.level
                and statement.lineno == statement.end_lineno and "(" not in lines[statement.lineno - 1]
                and all(alias.name != "*" for alias in statement.names)):
            line = lines[statement.lineno - 1]
            later = next((alias for alias in statement.names if alias.name > name), None)
            if later is not None:
                column = char_column(line, later.col_offset)
                return Edit(statement.lineno, column, statement.lineno, column, f"{name}, ")
            column = char_column(line, statement.end_col_offset)
            return Edit(statement.lineno, column, statement.lineno, column, f", {name}")
    return None
