"""Walking syntax trees: the helpers every rule uses, written for speed (they run on every node)."""

from __future__ import annotations

import ast
from typing import Iterator

_AST = ast.AST


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """`ast.walk`, in the same order, at about half its cost."""
    pending = [node]
    append = pending.append
    for node in pending:  # the list grows while it is iterated: a breadth-first queue without a deque
        yield node
        for name in node._fields:
            value = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, _AST):
                        append(item)
            elif isinstance(value, _AST):
                append(value)


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """`ast.iter_child_nodes` as a list, without its generator overhead."""
    found: list[ast.AST] = []
    append = found.append
    for name in node._fields:
        value = getattr(node, name, None)
        if value.__class__ is list:
            for item in value:
                if isinstance(item, _AST):
                    append(item)
        elif isinstance(value, _AST):
            append(value)
    return found


# Fields that never hold syntax a rule is given: names, numbers, and the context and operator
# markers (`Load`, `Add`, `Eq`), which are nodes but say nothing of their own.
_MARKER_FIELDS = frozenset({
    "ctx", "op", "ops", "id", "attr", "arg", "name", "asname", "module", "level", "kind", "type_comment",
    "is_async", "conversion", "simple",
})
_SYNTAX_FIELDS: dict[type, tuple[str, ...]] = {}


def syntax_children(node: ast.AST) -> list[ast.AST]:
    """`child_nodes` without the markers: the engine's walk over every expression of a file."""
    fields = _SYNTAX_FIELDS.get(node.__class__)
    if fields is None:
        fields = () if isinstance(node, ast.Constant) else tuple(f for f in node._fields if f not in _MARKER_FIELDS)
        _SYNTAX_FIELDS[node.__class__] = fields
    found: list[ast.AST] = []
    append = found.append
    for name in fields:
        value = getattr(node, name, None)
        if value.__class__ is list:
            for item in value:
                if isinstance(item, _AST):
                    append(item)
        elif isinstance(value, _AST):
            append(value)
    return found


_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def statement_children(node: ast.AST) -> list[ast.AST]:
    """The statements (and handlers, match cases) directly inside a node's blocks."""
    found: list[ast.AST] = []
    for name in _BLOCK_FIELDS:
        block = getattr(node, name, None)
        if isinstance(block, list):
            found.extend(block)
    return found


def parameter_names(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[str]:
    """Every parameter's name, in signature order."""
    args = function.args
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    names += [a.arg for a in (args.vararg,) if a]
    names += [a.arg for a in args.kwonlyargs]
    names += [a.arg for a in (args.kwarg,) if a]
    return names
