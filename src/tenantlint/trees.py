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
