"""Reading a cache key expression: what it is built from, through names, helpers and formatting."""

from __future__ import annotations

import ast
import re
import string
from dataclasses import replace
from functools import cached_property

from tenantlint.rules.cache.cached_data import CachedData
from tenantlint.rules.cache.helper_keys import HelperKeys
from tenantlint.rules.cache.key_shapes import (
    NESTED_SCOPES,
    PERCENT_FIELD,
    SCOPED,
    Built,
    Opaque,
    Shape,
    Where,
    start_of,
)
from tenantlint.rules.cache.names import Binding
from tenantlint.trees import child_nodes

_MAX_DEPTH = 30

# django-tenants picks the tenant from the host, so a key built from the host is per tenant.
_HOST_CALLS = frozenset({"get_host", "build_absolute_uri"})
_HOST_HEADERS = frozenset({"HTTP_HOST", "HTTP_X_FORWARDED_HOST"})
_CONNECTIONS = frozenset({"django.db.connection"})
_SNIPPET_LENGTH = 60


def shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET_LENGTH else text[: _SNIPPET_LENGTH - 3] + "..."


def pieces_of(shape: Shape | None) -> tuple:
    return shape.pieces if isinstance(shape, Built) else (shape,)


def template_text(shape: Shape) -> str | None:
    """The literal text of a key template (`"user:%s"`, `"user:{}"`), when it is all literal."""
    if isinstance(shape, Built) and all(isinstance(piece, str) for piece in shape.pieces):
        return "".join(shape.pieces)
    return None


class KeyReader(HelperKeys):
    """What a key expression is made of (literal text, the tenant, opaque values), following names,
    helpers and formatting within the module and into imported project helpers."""

    def __init__(self, ctx, scope_names: tuple[str, ...], foreign_depth: int = 0):
        super().__init__(ctx, scope_names, foreign_depth)
        self._scope_words = tuple(f"_{name.lower()}_" for name in scope_names)
        self._shapes: dict[tuple, Shape] = {}
        self._depth = 0

    @cached_property
    def cached_data(self) -> CachedData:
        return CachedData(self.ctx)

    def is_scope_name(self, name: str) -> bool:
        padded = f"_{name.lower()}_"
        return any(word in padded for word in self._scope_words)

    def read(self, node: ast.expr, where: Where) -> Shape:
        """What a key expression is made of, following names and helpers within the module."""
        memo_key = (id(node), where.memo_key())
        if memo_key in self._shapes:
            return self._shapes[memo_key]
        if self._depth >= _MAX_DEPTH:
            return Opaque(self.snippet(node))
        self._depth += 1
        try:
            shape = self._shapes[memo_key] = self._read(node, where)
        finally:
            self._depth -= 1
        return shape

    def _read(self, node: ast.expr, where: Where) -> Shape:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (str, int, float)) and not isinstance(node.value, bool):
                return Built((str(node.value),), node)
            return Opaque(self.snippet(node))
        if isinstance(node, ast.JoinedStr):
            parts = [value if isinstance(value, ast.Constant) else value.value for value in node.values]
            return self._concatenation(parts, node, where)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._concatenation([node.left, node.right], node, where)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return self._percent(node, where)
        if isinstance(node, ast.Call):
            return self._call(node, where)
        if isinstance(node, ast.Name):
            return self._name(node, where)
        if isinstance(node, ast.Attribute):
            if self.is_scope_name(node.attr):
                return self._schema_read(node.value, node, where)
            kept = self._kept_on_self(node, where)
            if kept is not None:
                value, init = kept
                return self.read(value, Where((init, *where.scopes[1:]), start_of(value)))
        elif isinstance(node, ast.Subscript):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and (
                    self.is_scope_name(key.value) or key.value in _HOST_HEADERS):
                return SCOPED
        elif isinstance(node, NESTED_SCOPES):
            return Opaque(self.snippet(node))
        children = [child for child in child_nodes(node) if isinstance(child, ast.expr)]
        if any(self.read(child, where) is SCOPED for child in children):
            return SCOPED
        return Opaque(self.snippet(node))

    def _concatenation(self, parts: list[ast.expr], node: ast.expr, where: Where) -> Shape:
        pieces: list = []
        for part in parts:
            if part.__class__ is ast.Constant and part.value.__class__ is str:
                pieces.append(part.value)  # literal text: nothing to follow (and most parts are)
                continue
            shape = self.read(part, where)
            if shape is SCOPED:
                return SCOPED
            pieces.extend(pieces_of(shape))
        return Built(tuple(pieces), node)

    def _percent(self, node: ast.BinOp, where: Where) -> Shape:
        template = self.read(node.left, where)
        values = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        named = {}
        if isinstance(node.right, ast.Dict):
            values = []
            named = {key.value: value for key, value in zip(node.right.keys, node.right.values)
                     if isinstance(key, ast.Constant) and isinstance(key.value, str)}
        positional = [self.read(value, where) for value in values]
        by_name = {name: self.read(value, where) for name, value in named.items()}
        if template is SCOPED or SCOPED in positional or SCOPED in by_name.values():
            return SCOPED
        fallback = Opaque(self.snippet(node.right))
        text = template_text(template)
        if text is None:
            return Built((*pieces_of(template), *(p for shape in positional for p in pieces_of(shape))), node)
        pieces: list = []
        position, index = 0, 0
        for match in PERCENT_FIELD.finditer(text):
            pieces.append(text[position:match.start()])
            position = match.end()
            if match.group("kind") == "%":
                pieces.append("%")
                continue
            if match.group("name") is not None:
                value = by_name.get(match.group("name"))
            else:
                value = positional[index] if index < len(positional) else None
                index += 1
            pieces.extend(pieces_of(value) if value is not None else (fallback,))
        pieces.append(text[position:])
        return Built(tuple(pieces), node)

    def _call(self, node: ast.Call, where: Where) -> Shape:
        func = node.func
        positional = [self.read(arg, where) for arg in node.args]
        named = {keyword.arg: self.read(keyword.value, where) for keyword in node.keywords}
        if SCOPED in positional or SCOPED in named.values():
            return SCOPED
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name is not None and (self.is_scope_name(name) or name in _HOST_CALLS):
            return SCOPED
        if name in {"getattr", "hasattr"} and len(node.args) >= 2:
            attribute = node.args[1]  # getattr(connection, "schema_name", "public")
            if isinstance(attribute, ast.Constant) and isinstance(attribute.value, str) \
                    and self.is_scope_name(attribute.value):
                return self._schema_read(node.args[0], node, where)
        if isinstance(func, ast.Attribute):
            receiver = self.read(func.value, where)
            if receiver is SCOPED:
                return SCOPED
            text = template_text(receiver)
            if text is not None and func.attr == "format":
                return self._format(text, positional, named, node)
            joined = node.args[0] if len(node.args) == 1 else None
            if text is not None and func.attr == "join" and isinstance(joined, (ast.List, ast.Tuple)):
                return self._join(text, joined.elts, node, where)
            method = self._method(func, where)
            if method is not None:
                return self._helper_result((method, replace(where, scopes=where.scopes[1:])), func.attr, node,
                                           positional, named, bound=True)
        elif isinstance(func, ast.Name):
            if func.id == "str" and len(positional) == 1 and not named and self.resolve("str", where) is None:
                return positional[0]
            helper = self._helper(func.id, where)
            if helper is not None:
                return self._helper_result(helper, func.id, node, positional, named)
        if isinstance(func, (ast.Name, ast.Attribute)):
            imported = self._imported_helper(func, where)
            if imported is not None:
                return self._imported_result(imported, node, positional, named)
        return Opaque(self.snippet(node))

    def _schema_read(self, owner: ast.expr, node: ast.expr, where: Where) -> Shape:
        """`connection.schema_name` scopes a key, except in async code: the connection there is the event
        loop thread's, which the tenant middleware never set (it runs in the request's sync thread)."""
        if self.qualified(owner, where) in _CONNECTIONS and self.ctx.execution.at(node).runs_async:
            return Opaque(self.snippet(node), event_loop_schema=True)
        return SCOPED

    def _format(self, text: str, positional: list[Shape], named: dict, node: ast.Call) -> Shape:
        pieces: list = []
        automatic = 0
        try:
            fields = list(string.Formatter().parse(text))
        except ValueError:
            return Opaque(self.snippet(node))
        for literal, field_name, _, _ in fields:
            pieces.append(literal)
            if field_name is None:
                continue
            head = re.match(r"[^.\[]*", field_name).group()
            if head == "":
                value = positional[automatic] if automatic < len(positional) else None
                automatic += 1
            elif head.isdigit():
                value = positional[int(head)] if int(head) < len(positional) else None
            else:
                value = named.get(head)
            pieces.extend(pieces_of(value) if value is not None else (Opaque(head or "?"),))
        return Built(tuple(pieces), node)

    def _join(self, separator: str, elements: list[ast.expr], node: ast.Call, where: Where) -> Shape:
        pieces: list = []
        for index, element in enumerate(elements):
            shape = self.read(element, where)
            if shape is SCOPED:
                return SCOPED
            pieces.extend(([separator] if index else []) + list(pieces_of(shape)))
        return Built(tuple(pieces), node)

    def _name(self, node: ast.Name, where: Where) -> Shape:
        if self.is_scope_name(node.id):
            return SCOPED
        resolved = self.resolve(node.id, where)
        if resolved is None or not resolved[0]:
            return Opaque(node.id)
        bindings, scope = resolved

        def step(state: tuple[Shape, int], binding: Binding) -> tuple[Shape, int]:
            current, builds = state
            if current is SCOPED:
                return state
            if binding.kind == "param":
                return dict(scope.arguments).get(node.id, Opaque(node.id)), builds
            if binding.kind not in {"assign", "augment"}:
                return Opaque(node.id), builds
            shape = self.read(binding.node, replace(scope, before=binding.start))
            if shape is SCOPED:
                return SCOPED, builds
            if binding.kind == "assign":
                return shape, builds + isinstance(shape, Built)
            if isinstance(binding.op, ast.Add) and isinstance(current, Built):
                return replace(current, pieces=(*current.pieces, *pieces_of(shape)), augmented=True), builds
            return Opaque(node.id), builds

        current, builds = self.fold(("name",), bindings, scope, (Opaque(node.id), 0), step)
        if current is SCOPED:
            return SCOPED
        if not isinstance(current, Built):
            return Opaque(node.id)
        # branches (or a loop) may reach the read through another assignment than the last one
        return current if builds <= 1 else replace(current, exact=False)

    def snippet(self, node: ast.AST) -> str:
        return shorten(self.ctx.segment(node) or ast.unparse(node))
