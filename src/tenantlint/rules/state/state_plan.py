"""TL101's fix, planned on the `ast`: which accesses of a shared attribute to rewrite, and into what.

The rule asks `StatePlanner.plan(attribute)` for each attribute a request-path method
stores on `self`. The plan names every access of that attribute in the class by its
position, so the LibCST codemod (`_tl101_fix`, loaded only when fixing) rewrites
exactly those and refuses a module that has changed since. No plan (no fix) where
an access cannot be rewritten faithfully.

Two forms:
- context variable: a module-level `contextvars.ContextVar` takes the attribute's
  place; stores become `.set(value)`, loads `.get()`, `getattr`/`hasattr`/`delattr`
  and `del` their equivalents; the store that opens a request resets the variable
  when the method ends, where every reader runs inside that method.
- connection: in an authenticator of a django-tenants project, a stored request read
  only to reach its `tenant` (the plan's Issue 1) is dropped, and the tenant is read
  from `django.db.connection`, which the tenant middleware points at the same tenant.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tenantlint.model.known import TENANT_APPS
from tenantlint.rules.base import Span
from tenantlint.rules.state.attribute_uses import (
    CONNECTION,
    CONTEXT_VAR,
    DROP,
    GET,
    GETATTR,
    HASATTR,
    RESET,
    SET,
    SET_DEFAULT,
    SET_TOKEN,
    UNREAD,
    Access,
    AttributeUses,
    Use,
    literal,
    string_literal,
)
from tenantlint.trees import child_nodes, parameter_names, walk


@dataclass(frozen=True)
class Change:
    kind: str
    span: Span
    # GETATTR: getattr's default still applies (no default of the variable's own makes it moot)
    keeps_default: bool = False
    # SET_TOKEN: reset the variable in a `finally` around the rest of the method
    wrap: bool = False
    # SET_TOKEN: the store opens a `try` whose `finally` deletes the attribute: move it above the `try`
    hoist: bool = False
    # HASATTR: the span is `not hasattr(...)`, which becomes one comparison
    negated: bool = False
    # HASATTR: the comparison replacing the call needs parentheses where it stands
    parenthesize: bool = False


@dataclass(frozen=True)
class StatePlan:
    form: str
    class_name: str
    attribute: str
    name: str          # the context variable's module-level name, or the name `connection` goes by
    changes: tuple[Change, ...]
    safe: bool
    declaration: str = ""  # `NAME = contextvars.ContextVar(...)`
    default: str = "None"
    token: str = ""
    sentinel: str = ""
    imports: tuple[tuple[str, str | None, str | None], ...] = ()  # (module, name, alias) to add

    @property
    def message(self) -> str:
        if self.form == CONNECTION:
            return f"Read the tenant from django.db.connection instead of keeping the request on self.{self.attribute}"
        if self.form == UNREAD:
            return f"Remove the stores to self.{self.attribute}: nothing reads it"
        return f"Move self.{self.attribute} into the context variable {self.name}"


class StatePlanner(AttributeUses):
    """Fix plans for the attributes one class stores request data on."""

    def __init__(self, node: ast.ClassDef, lineage, ancestors: frozenset[str], kind: str, hooks: frozenset[str],
                 construction: frozenset[str], ctx, module_names: set[str]):
        super().__init__(node, lineage, ancestors, construction, ctx)
        self.kind = kind
        self.hooks = hooks
        self.module_names = module_names
        self._plans: dict[str, StatePlan | None] = {}

    def plan(self, attribute: str) -> StatePlan | None:
        if attribute not in self._plans:
            self._plans[attribute] = self._plan(attribute)
        return self._plans[attribute]

    # -- the plan ------------------------------------------------------------
    def _plan(self, attribute: str) -> StatePlan | None:
        if self.node not in self.ctx.tree.body or _mangled(attribute) or not self._bases_leave_it_alone(attribute):
            return None
        default = self._class_default(attribute)
        if default is False:
            return None
        uses = self.uses()
        accesses = []
        for use in uses.by_attribute.get(attribute, []):
            access = self._access(use)
            if access is None or use.method.name in uses.rebinds_self:
                return None
            accesses.append(access)
        initial = self._initial_values(accesses)
        if initial is False:
            return None
        if initial is not None:
            accesses = [a for a in accesses if a is not initial]
            default = initial.value
        if not any(a.kind == SET for a in accesses):
            return None  # the value comes from elsewhere (a base class, another object)
        foreign = self._used_outside(attribute, accesses) or uses.dynamic
        if not any(a.kind in (GET, GETATTR, HASATTR) for a in accesses):
            return self._unread_plan(attribute, accesses, initial, foreign)
        connection = self._connection_plan(attribute, accesses, initial)
        if connection is not None:
            return connection
        return self._context_var_plan(attribute, accesses, initial, default, foreign)

    def _unread_plan(self, attribute, accesses, initial, foreign) -> StatePlan | None:
        """Nothing in the class reads the attribute. A private one nobody else reaches is dead: its stores
        go (when storing had no effect of its own). A public one is read elsewhere: no fix."""
        if foreign or not attribute.startswith("_"):
            return None
        if not all(isinstance(a.value, ast.Name) or literal(a.value) for a in accesses if a.kind == SET):
            return None
        changes = [Change(DROP, self.ctx.span(a.node)) for a in [*accesses, *([initial] if initial else [])]]
        return StatePlan(UNREAD, self.node.name, attribute, "", tuple(changes), safe=True)

    def _context_var_plan(self, attribute, accesses, initial, default, foreign) -> StatePlan | None:
        names = self.module_names
        factory, imports = _context_var_factory(self.ctx.tree, names)
        if factory is None:
            return None
        name = _free_name(f"_{self.node.name}_{attribute.lstrip('_')}", names)
        has_default = default is not None
        default_text = self._text(default) if has_default else "None"
        hasattrs = [a for a in accesses if a.kind == HASATTR]
        if hasattrs and has_default:
            return None  # with a default the attribute always exists; `hasattr` would read oddly as `True`
        token_store, wrap, reset_node = self._token_store(accesses)
        deletes = [a for a in accesses if a.kind == "delete" and a.node is not reset_node]
        getattr_defaults = [a.value for a in accesses if a.kind == GETATTR and a.value is not None]
        if deletes and not has_default and (hasattrs or not all(_is_none(d) for d in getattr_defaults)):
            return None  # a context variable cannot be unset again: `del` then `hasattr` would differ
        token = ""
        if token_store is not None:
            method_names = _names_in(token_store.method) | names
            token = _free_name(f"{attribute.strip('_')}_token", method_names)
        sentinel = _free_name("_UNSET", names) if hasattrs else ""
        changes = []
        for access in accesses:
            changes.append(self._change(access, token_store, wrap, reset_node, has_default, sentinel))
        if initial is not None:
            changes.append(Change(DROP, self.ctx.span(initial.node)))
        label = ".".join(part for part in (self.ctx.module.name, self.node.name, attribute) if part)
        declaration = f'{name} = {factory}("{label}", default={default_text})'
        return StatePlan(CONTEXT_VAR, self.node.name, attribute, name, tuple(changes),
                         safe=attribute.startswith("_") and not foreign, declaration=declaration,
                         default=default_text, token=token, sentinel=sentinel, imports=imports)

    def _change(self, access: Access, token_store, wrap, reset_node, has_default, sentinel) -> Change:
        span = self.ctx.span(access.node)
        if access.kind == GET:
            return Change(GET, span)
        if access.kind == GETATTR:
            # with a default the attribute always exists; the variable's own default is None
            keep = not (has_default or access.value is None or _is_none(access.value))
            return Change(GETATTR, span, keeps_default=keep)
        if access.kind == HASATTR:
            node = access.node
            parent = self.parents.get(node)
            negated = isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not)
            if negated:  # `not hasattr(...)` → `VAR.get(UNSET) is UNSET`
                node, parent = parent, self.parents.get(parent)
            return Change(HASATTR, self.ctx.span(node), negated=negated, parenthesize=_needs_parentheses(parent, node))
        if access.kind == SET:
            if access is token_store:
                return Change(SET_TOKEN, span, wrap=wrap, hoist=access.node not in access.method.body)
            return Change(SET, span)
        return Change(RESET if access.node is reset_node else SET_DEFAULT, span)

    def _connection_plan(self, attribute, accesses, initial) -> StatePlan | None:
        """The plan's Issue 1: an authenticator keeps the request only to read `request.tenant` later."""
        if self.kind != "authenticator":
            return None
        reads = [a for a in accesses if a.kind == GET]
        if not reads or any(a.kind not in (GET, SET) for a in accesses):
            return None
        for access in accesses:
            if access.kind == SET and not (
                    isinstance(access.node, ast.Assign) and isinstance(access.value, ast.Name)
                    and access.value.id == "request" and "request" in parameter_names(access.method)[1:]):
                return None
            if access.kind == GET and not self._reads_tenant(access.node):
                return None
        if not self._tenant_project():
            return None
        name, imports = _connection_name(self.ctx.tree, self.module_names)
        changes = [Change(GET, self.ctx.span(a.node)) if a.kind == GET else Change(DROP, self.ctx.span(a.node))
                   for a in accesses]
        if initial is not None:
            changes.append(Change(DROP, self.ctx.span(initial.node)))
        # `connection.tenant` is what the tenant middleware resolved, but it is never None (the public
        # schema has a stand-in tenant) and does not depend on `authenticate` having run: unsafe.
        return StatePlan(CONNECTION, self.node.name, attribute, name, tuple(changes), safe=False, imports=imports)

    def _reads_tenant(self, node: ast.Attribute) -> bool:
        parent = self.parents.get(node)
        if isinstance(parent, ast.Attribute):
            return parent.value is node and parent.attr == "tenant" and isinstance(parent.ctx, ast.Load)
        return (isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name)
                and parent.func.id in ("getattr", "hasattr") and parent.args[:1] == [node]
                and len(parent.args) >= 2 and string_literal(parent.args[1]) == "tenant")

    def _tenant_project(self) -> bool:
        """django-tenants (or django-tenant-schemas) points the connection at the request's tenant."""
        if any(dotted.split(".")[0] in TENANT_APPS for dotted in self.ctx.imports.bindings.values()):
            return True
        return any(view.is_tenant_project() for view in self.ctx.governing_settings)

    # -- resetting where the request ends ----------------------------------------
    def _token_store(self, accesses) -> tuple[Access | None, bool, ast.AST | None]:
        """The store that opens the value's life in a method; whether to wrap the rest of the method in
        `try`/`finally` to reset it; the `del` in a `try`/`finally` the code already has for that."""
        stores = [a for a in accesses if a.kind == SET]
        if len({id(a.method) for a in stores}) != 1:
            return None, False, None
        method = stores[0].method
        first = min(stores, key=lambda a: (a.node.lineno, a.node.col_offset))
        if first.nested or _is_generator(method):
            # a generator's `finally` may run in another context, where the token is refused
            return None, False, None
        if first.node not in method.body:
            # `try: self.x = v; ... finally: del self.x`: the store moves above the `try`
            for statement in method.body:
                if (isinstance(statement, ast.Try) and statement.body[0] is first.node and len(statement.body) > 1
                        and not statement.handlers):
                    reset = self._deleted_in(statement, accesses)
                    if reset is not None:
                        return first, False, reset
            return None, False, None
        index = method.body.index(first.node)
        rest = method.body[index + 1:]
        for statement in rest:
            reset = self._deleted_in(statement, accesses) if isinstance(statement, ast.Try) else None
            if reset is not None:
                return first, False, reset
        if not rest or not _alone_on_its_lines(method.body, index):
            return None, False, None
        readers = [a for a in accesses if a.kind in (GET, GETATTR, HASATTR)]
        extent = self._extent(method)
        if any(a.nested or a.method.name not in extent for a in readers):
            return None, False, None
        return first, True, None

    @staticmethod
    def _deleted_in(statement: ast.Try, accesses) -> ast.AST | None:
        return next((a.node for a in accesses if a.kind == "delete" and a.node in statement.finalbody), None)

    def _extent(self, method) -> set[str]:
        """The methods that only ever run inside `method`: it, and helpers called only from within it."""
        extent = {method.name}
        references: dict[str, list[Use]] = {}
        for name, uses in self.uses().by_attribute.items():
            if name in self.methods:
                references[name] = uses
        outside = self._names_used_outside_class()
        changed = True
        while changed:
            changed = False
            for name, helper in self.methods.items():
                if name in extent or not self._may_be_helper(name, helper) or name in outside:
                    continue
                uses = references.get(name, [])
                if uses and all(u.form == "attribute" and not u.nested and u.method.name in extent
                                and isinstance(self.parents.get(u.node), ast.Call)
                                and self.parents[u.node].func is u.node for u in uses):
                    extent.add(name)
                    changed = True
        return extent

    def _may_be_helper(self, name: str, helper) -> bool:
        """Not a method the framework calls by itself: middleware are only called through their hooks."""
        if name in self.hooks or name in self.construction or (name.startswith("__") and name.endswith("__")):
            return False
        if helper.decorator_list:
            return False
        return self.kind in ("middleware", "asgi") or name.startswith("_")

    # -- the accesses --------------------------------------------------------------
    # -- positions -------------------------------------------------------------------
def module_names(tree: ast.Module) -> set[str]:
    """Every identifier the module binds or uses anywhere, so new names cannot capture or shadow one."""
    names: set[str] = set()
    for node in walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
    return names


def _names_in(function: ast.AST) -> set[str]:
    return {n.id for n in walk(function) if isinstance(n, ast.Name)} | {
        n.arg for n in walk(function) if isinstance(n, ast.arg)}


def _free_name(wanted: str, taken: set[str]) -> str:
    name, number = wanted, 1
    while name in taken:
        number += 1
        name = f"{wanted}_{number}"
    return name


def _context_var_factory(tree: ast.Module, names: set[str]):
    """How the module can spell `contextvars.ContextVar`, and the import it needs for that."""
    imported = _imported_at_top(tree)
    for local, dotted in imported.items():
        if dotted == "contextvars":
            return f"{local}.ContextVar", ()
    for local, dotted in imported.items():
        if dotted == "contextvars.ContextVar":
            return local, ()
    if "contextvars" in names:
        return None, ()
    return "contextvars.ContextVar", (("contextvars", None, None),)


def _connection_name(tree: ast.Module, names: set[str]):
    """The name `django.db.connection` goes by in the module, and the import it needs for that."""
    for local, dotted in _imported_at_top(tree).items():
        if dotted == "django.db.connection":
            return local, ()
    name = next((n for n in ("connection", "db_connection") if n not in names), None)
    name = name or _free_name("db_connection", names)
    return name, (("django.db", "connection", None if name == "connection" else name),)


def _imported_at_top(tree: ast.Module) -> dict[str, str]:
    """Local name → dotted name for the module's unconditional absolute imports (not those under
    `if TYPE_CHECKING:`, which do not exist when the code runs)."""
    bound = {}
    for statement in tree.body:
        if isinstance(statement, ast.Import):
            bound.update((a.asname or a.name.split(".")[0], a.name if a.asname else a.name.split(".")[0])
                         for a in statement.names)
        elif isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module:
            bound.update((a.asname or a.name, f"{statement.module}.{a.name}") for a in statement.names)
    return bound


def _is_generator(function) -> bool:
    pending = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            pending.extend(child_nodes(node))
    return False


def _alone_on_its_lines(body: list[ast.stmt], index: int) -> bool:
    statement = body[index]
    before = body[index - 1].end_lineno < statement.lineno if index else True
    after = body[index + 1].lineno > statement.end_lineno if index + 1 < len(body) else True
    return before and after


# Where a comparison can stand without parentheses.
_COMPARISON_HOMES = (ast.Expr, ast.If, ast.While, ast.Assert, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Return,
                     ast.BoolOp, ast.IfExp, ast.Call, ast.keyword, ast.List, ast.Tuple, ast.Set, ast.comprehension,
                     ast.NamedExpr, ast.Yield, ast.Dict, ast.Lambda, ast.FormattedValue)


def _needs_parentheses(parent: ast.AST | None, node: ast.AST) -> bool:
    if isinstance(parent, ast.UnaryOp):
        return not isinstance(parent.op, ast.Not)
    if isinstance(parent, ast.Call):
        return parent.func is node
    return not isinstance(parent, _COMPARISON_HOMES)


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _mangled(attribute: str) -> bool:
    """`self.__x` is stored as `_Class__x`: its string spellings differ; left alone."""
    return attribute.startswith("__") and not attribute.endswith("__")


