"""Walking syntax trees: the helpers every rule uses, written for speed (they run on every node).

`walk` and `child_nodes` are `ast.walk` and `ast.iter_child_nodes` (same order) without the
markers: the context and operator nodes (`Load`, `Store`, `Add`, `Eq`), which are nodes but no
rule looks for them on their own (it reads `node.ctx` or `node.ops`). Leaving them out, and the
fields that hold only names and numbers, makes a walk visit about a third fewer nodes.
"""

from __future__ import annotations

import ast
from typing import Iterator

_AST = ast.AST
_MARKER_FIELDS = frozenset({
    "ctx", "op", "ops", "id", "attr", "arg", "name", "asname", "module", "level", "kind", "type_comment",
    "is_async", "conversion", "simple",
})
_SYNTAX_FIELDS: dict[type, tuple[str, ...]] = {}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")
_BLOCK_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(node: ast.AST) -> tuple[str, ...]:
    fields = _SYNTAX_FIELDS.get(node.__class__)
    if fields is None:
        fields = () if isinstance(node, ast.Constant) else tuple(f for f in node._fields if f not in _MARKER_FIELDS)
        _SYNTAX_FIELDS[node.__class__] = fields
    return fields


def _block_fields(node: ast.AST) -> tuple[str, ...]:
    fields = _BLOCK_FIELDS.get(node.__class__)
    if fields is None:
        fields = _BLOCK_FIELDS[node.__class__] = tuple(f for f in _BLOCKS if f in node._fields)
    return fields


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and every syntax node below it, breadth first as `ast.walk`. (`child_nodes` written out
    again, not called: a third faster, and every rule walks.)"""
    pending = [node]
    append = pending.append
    for node in pending:  # the list grows while it is iterated: a breadth-first queue without a deque
        yield node
        fields = _SYNTAX_FIELDS.get(node.__class__)
        for name in _fields(node) if fields is None else fields:
            value = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, _AST):
                        append(item)
            elif isinstance(value, _AST):
                append(value)


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """The syntax nodes directly below `node`, in field order."""
    found: list[ast.AST] = []
    append = found.append
    fields = _SYNTAX_FIELDS.get(node.__class__)
    for name in _fields(node) if fields is None else fields:
        value = getattr(node, name, None)
        if value.__class__ is list:
            for item in value:
                if isinstance(item, _AST):
                    append(item)
        elif isinstance(value, _AST):
            append(value)
    return found


def walk_with_parents(tree: ast.AST, children=None, parents: list[ast.AST] | None = None
                      ) -> Iterator[tuple[ast.AST, list[ast.AST]]]:
    """Every node below `tree`, depth first in source order, with the nodes holding it (outermost first):
    the engine's traversal. `children` picks what is below a node (`child_nodes`, or `statement_children`
    for rules that want statements only); `parents`, a list kept up to date as the walk goes (the
    engine's, which rules read). The list is reused: read it, do not keep it."""
    children = children or child_nodes
    parents = [] if parents is None else parents
    parents.append(tree)
    pending = [iter(children(tree))]
    while pending:
        for node in pending[-1]:
            yield node, parents
            inside = children(node)
            if inside:
                parents.append(node)
                pending.append(iter(inside))
                break
        else:
            pending.pop()
            parents.pop()


def statement_children(node: ast.AST) -> list[ast.AST]:
    """The statements (and handlers, match cases) directly inside a node's blocks."""
    found: list[ast.AST] = []
    for name in _block_fields(node):
        block = getattr(node, name, None)
        if isinstance(block, list):
            found.extend(block)
    return found


def statements(tree: ast.AST) -> Iterator[ast.AST]:
    """`tree` and every statement (and handler, match case) below it, at any depth: where functions
    and classes are defined, unless a lambda (an expression) defines one."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        pending.extend(statement_children(node))


def own_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The nodes of a block of statements (a function's body), in source order, without those of the
    functions and classes it defines: their code runs when they are called, not here."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in reversed(child_nodes(node)) if not isinstance(child, _SCOPES))


def parameter_names(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[str]:
    """Every parameter's name, in signature order."""
    args = function.args
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    names += [a.arg for a in (args.vararg,) if a]
    names += [a.arg for a in args.kwonlyargs]
    names += [a.arg for a in (args.kwarg,) if a]
    return names


def per_tree(function):
    """`function(tree)` memoised for the last tree (or module) it was given: rules ask a module-wide question once
    for each finding, and a file's findings come together (a walk per finding is quadratic)."""
    last: list = [None, None]

    def cached(tree):
        if last[0] is not tree:
            last[0], last[1] = tree, function(tree)
        return last[1]

    cached.__doc__ = function.__doc__
    return cached
