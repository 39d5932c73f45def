"""How one function handles decoded tokens, shared by TL501 and TL502.

`TokenFunction` reads a function for where its tokens come from (simplejwt,
PyJWT, python-jose decodes and `get_user` overrides), which users it looks up
from them, and which comparisons of the tenant claim to the active tenant it
makes and whether a token without the claim gets past them.
"""

from __future__ import annotations

import ast
import itertools
import re
from functools import cached_property
from typing import Iterator

from tenantlint.model import flow
from tenantlint.model.known import (
    AUTHENTICATORS,
    GET_OBJECT_OR_404,
    GET_USER_MODEL,
    JWT_DECODE_FUNCTIONS,
    SIMPLEJWT_TOKEN_CLASSES,
    SYNC_TO_ASYNC,
    USER_MODELS,
)
from tenantlint.model.project import ClassInfo, ModuleInfo, qualify_with, resolve_relative
from tenantlint.model.settings import Seq
from tenantlint.trees import child_nodes, per_tree, walk

# Nested functions and classes are read on their own; lambdas and comprehensions belong to the function.
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_EQUALITY = (ast.Eq, ast.NotEq, ast.Is, ast.IsNot, ast.In, ast.NotIn)
_POSITIVE = (ast.Eq, ast.Is, ast.In)
_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})
# Attributes and keys that hold the tenant the request is served for (`connection.schema_name`, `request.tenant`).
_ACTIVE_ATTRIBUTES = frozenset({"schema_name", "tenant", "tenant_id", "tenant_schema", "tenant_name", "schema"})
# What a helper calls the token it was handed (`token`, `validated_token`, `payload`, `claims`).
_TOKEN_NAME = re.compile(r"token|payload|claims|jwt|decoded", re.IGNORECASE)
_USER_MODEL_NAME = re.compile(r"user(_?model)?$", re.IGNORECASE)
_USER_LOOKUP_NAME = re.compile(
    r"^_*a?(get|fetch|load|find|lookup|resolve|retrieve)_(\w+_)?users?(_(by|from|for|or)_\w+)?$")
_DECODE_HINTS = frozenset({"get_validated_token", "decode", "decode_complete"})
# Methods that see a token before `get_user` does (an authenticator's) or while it is decoded (a token
# class's): a check in them, or in a method they call on `self`, covers the token.
_AUTHENTICATOR_HOOKS = ("authenticate", "get_validated_token")
_TOKEN_CLASS_HOOKS = ("__init__", "verify")
_CAUGHT_BY_MISSING_CLAIM = frozenset({"KeyError", "LookupError", "AttributeError", "Exception", "BaseException"})
_MAX_UNKNOWN_ATOMS = 6

MATCH, MISMATCH, MISSING = "match", "mismatch", "missing"
# What a part of a tenant check says about the claim (`TokenFunction.claim_role`).
PRESENT, ABSENT, NEUTRAL = "present", "absent", "neutral"

# A file without any of these words neither decodes a token, nor overrides `get_user`, nor names a token
# it was handed (`_TOKEN_NAME`, in its usual casings): TL502 skips it unparsed.
TRIGGERS = ("get_user", *(form for word in ("token", "payload", "claims", "jwt", "decode")
                          for form in (word, word.capitalize(), word.upper())))
# Every function `might_read_tokens` lets through names one of these (a method `get_user`, a call of
# `decode...`, `get_validated_token` or `...Token`; an alias is imported under the name it stands for):
# TL501 skips a file without them unparsed.
READING_TRIGGERS = (r"\bget_user\b", r"Token\b", r"\bdecode", r"\bget_validated_token\b")


def own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of a function's body, without nested functions and classes (checked on their own)."""
    stack: list[ast.AST] = list(reversed(function.body))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in reversed(list(child_nodes(node))) if not isinstance(child, _SCOPES))


def identifier(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def function_text(ctx, function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return "\n".join(ctx.lines[function.lineno - 1:function.end_lineno])


def decode_hints(bindings: dict[str, str]) -> tuple[str, ...]:
    """Words one of which a function that decodes a token must contain, aliases (`UT`, `jwt_decode`) included."""
    aliases = (name for name, dotted in bindings.items()
               if dotted.rpartition(".")[2] in _DECODE_HINTS or dotted.endswith("Token"))
    return ("Token", *_DECODE_HINTS, *aliases)


def might_read_tokens(function: ast.FunctionDef | ast.AsyncFunctionDef, owner: ast.ClassDef | None,
                      bindings: dict[str, str], text: str, hints: tuple[str, ...]) -> bool:
    """Cheap filter before the full reading: a `get_user` method, or a call that could decode a token."""
    if owner is not None and function.name == "get_user":
        return True
    if not any(hint in text for hint in hints):
        return False
    for node in own_nodes(function):
        if isinstance(node, ast.Call):
            name = identifier(node.func)
            if isinstance(node.func, ast.Name) and name in bindings:
                name = bindings[name].rpartition(".")[2]  # `UT` in `from ...tokens import UntypedToken as UT`
            if name and (name in _DECODE_HINTS or name.endswith("Token")):
                return True
    return False


def mentions_claim(function: ast.FunctionDef | ast.AsyncFunctionDef, claim: str, constants: dict[str, str]) -> bool:
    """Cheap filter: the claim's name, a constant holding it, or a `TENANT_CLAIM`-like name appears."""
    for node in own_nodes(function):
        if isinstance(node, ast.Constant) and node.value == claim:
            return True
        name = identifier(node)
        if name and (constants.get(name) == claim or ("tenant" in name.lower() and "claim" in name.lower())):
            return True
    return False


@per_tree
def module_string_constants(tree: ast.Module) -> dict[str, str]:
    """`string_constants` of a module's body, read once per module (asked for each function)."""
    return string_constants(tree.body)


def string_constants(body: list[ast.stmt]) -> dict[str, str]:
    found = {}
    for statement in body:
        if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name) and _constant_in(statement.value, str)):
            found[statement.targets[0].id] = statement.value.value
    return found


def methods(info: ClassInfo) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {n.name: n for n in info.node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def class_chain(ctx, module: ModuleInfo, node: ast.ClassDef) -> list[ClassInfo]:
    """The class and its project ancestors, nearest first (an approximation of the MRO)."""
    chain: list[ClassInfo] = []
    seen: set[str] = set()
    pending = [ctx.project.class_in_module(module, node)]
    while pending:
        info = pending.pop(0)
        if info.qualname in seen:
            continue
        seen.add(info.qualname)
        chain.append(info)
        for base in info.bases:
            resolved = ctx.project.resolve_class(base, near=info.module.path)
            if resolved is not None:
                pending.append(resolved)
    return chain


class _ClaimRaises(Exception):
    """Reading the claim raised because the token lacks it; `handler` is the `except` that swallows it, if any."""

    def __init__(self, handler: ast.ExceptHandler | None):
        super().__init__()
        self.handler = handler


class TokenFunction:
    """One function read for tokens: sources, token-derived names, user lookups and tenant-claim checks.

    `depth` 0 is the function being checked. Helpers it calls and the hooks of its
    class are read at depth 1 without following further calls, and with `loose`
    claim reads: a helper rarely shows where its token came from, so a receiver
    named like one (`token`, `payload`, `claims`) counts as a token.
    """

    def __init__(self, function, ctx, module: ModuleInfo, owner: ast.ClassDef | None, depth: int = 0,
                 tainted: frozenset[str] = frozenset(), token_self: bool = False):
        self.function = function
        self.ctx = ctx
        self.module = module
        self.owner = owner
        self.depth = depth
        self.loose = depth > 0
        self.claim = ctx.options.tenant_claim
        self.nodes = list(own_nodes(function))
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in [function, *self.nodes]:
            for child in child_nodes(node):
                self.parent[child] = node
        self.constants = {**module_string_constants(module.tree), **string_constants(function.body)}
        self._seed = set(tainted) | ({"self"} if token_self else set())
        self._helper_kinds: dict[tuple, str | None] = {}

    # -- names and imports -------------------------------------------------
    @cached_property
    def _local_bindings(self) -> dict[str, str]:
        bindings = {}
        package = self.module.name if self.module.is_package else self.module.name.rpartition(".")[0]
        for node in self.nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    top = alias.name.split(".")[0]
                    bindings[alias.asname or top] = alias.name if alias.asname else top
            elif isinstance(node, ast.ImportFrom):
                base = resolve_relative(package, node.module, node.level)
                if base is not None:
                    for alias in node.names:
                        bindings[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
        return bindings

    def qualify(self, node: ast.AST) -> str | None:
        return qualify_with(node, lambda name: self._local_bindings.get(name) or self.module.imports.bindings.get(name))

    @cached_property
    def _assignments(self) -> list[tuple[set[str], ast.expr, ast.AST]]:
        """(names bound, value, statement) for every simple binding in the function."""
        found = []
        for node in self.nodes:
            if isinstance(node, ast.Assign):
                found.append(({n for t in node.targets for n in _target_names(t)}, node.value, node))
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                found.append((_target_names(node.target), node.value, node))
            elif isinstance(node, ast.NamedExpr):
                found.append(({node.target.id}, node.value, node))
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                found.append((_target_names(node.target), node.iter, node))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                found.append((_target_names(node.optional_vars), node.context_expr, node))
            elif isinstance(node, ast.comprehension):
                found.append((_target_names(node.target), node.iter, node))
        return found

    def _closure(self, seed: set[str], derived) -> set[str]:
        names = set(seed)
        changed = True
        while changed:
            changed = False
            for targets, value, _ in self._assignments:
                if not targets <= names and derived(value, names):
                    names |= targets
                    changed = True
        return names

    # -- where tokens come from ------------------------------------------
    def decode_kind(self, call: ast.Call) -> str | None:
        """'jwt', 'token', 'project-token' or 'validated' when the call decodes a token."""
        dotted = self.qualify(call.func)
        if dotted in JWT_DECODE_FUNCTIONS:
            return "jwt"
        if dotted in SIMPLEJWT_TOKEN_CLASSES:
            return "token"
        if isinstance(call.func, ast.Attribute) and call.func.attr == "get_validated_token":
            return "validated"
        if not dotted or not dotted.rpartition(".")[2][:1].isupper():
            return None
        ancestors = self.ctx.project.ancestors(dotted, near=self.module.path)
        return "project-token" if ancestors & SIMPLEJWT_TOKEN_CLASSES else None

    @cached_property
    def owner_is_authenticator(self) -> bool:
        if self.owner is None:
            return False
        info = self.ctx.project.class_in_module(self.module, self.owner)
        # The library's own classes are not overrides: their get_user is simplejwt's, not the project's.
        return info.qualname not in self._authenticator_bases and self._is_authenticator(info)

    @cached_property
    def _authenticator_bases(self) -> frozenset[str]:
        return AUTHENTICATORS | frozenset(self.ctx.options.authenticator_bases)

    def _is_authenticator(self, info: ClassInfo) -> bool:
        return bool(self.ctx.project.class_ancestors(info) & self._authenticator_bases)

    @cached_property
    def owner_is_token(self) -> bool:
        """A simplejwt token subclass: its methods read the claim from `self`."""
        if self.owner is None:
            return False
        info = self.ctx.project.class_in_module(self.module, self.owner)
        return bool(self.ctx.project.class_ancestors(info) & SIMPLEJWT_TOKEN_CLASSES)

    @cached_property
    def token_parameter(self) -> str | None:
        """The `validated_token` parameter of a `get_user` override in an authenticator.

        In simplejwt's classes that is the contract; in another DRF authenticator the
        parameter counts only when named like a token (`get_user(self, request)` is not).
        """
        if self.depth or self.function.name != "get_user" or not self.owner_is_authenticator:
            return None
        params = [a.arg for a in self.function.args.posonlyargs + self.function.args.args]
        if len(params) < 2:
            return None
        info = self.ctx.project.class_in_module(self.module, self.owner)
        simplejwt = any(a.startswith("rest_framework_simplejwt.") for a in self.ctx.project.class_ancestors(info))
        return params[1] if simplejwt or _TOKEN_NAME.search(params[1]) else None

    @cached_property
    def source_calls(self) -> list[ast.Call]:
        """Decodes whose token is not already checked elsewhere (by its token class or the class's hooks)."""
        found = []
        for node in self.nodes:
            if isinstance(node, ast.Call):
                kind = self.decode_kind(node)
                if kind and not (self.depth == 0 and self._checked_upstream(node, kind)):
                    found.append(node)
        return found

    @cached_property
    def token_names(self) -> set[str]:
        seed = set(self._seed)
        if self.token_parameter and not self._checked_upstream(None, "validated"):
            seed.add(self.token_parameter)
        return seed

    @cached_property
    def _source_ids(self) -> set[int]:
        return {id(call) for call in self.source_calls}

    @cached_property
    def tainted(self) -> set[str]:
        return self._closure(self.token_names, self._contains_source)

    def _contains_source(self, expr: ast.AST, names: set[str]) -> bool:
        return any((isinstance(n, ast.Name) and n.id in names) or id(n) in self._source_ids for n in walk(expr))

    def derives(self, expr: ast.AST) -> bool:
        """Whether the value comes from a decoded token."""
        return self._contains_source(expr, self.tainted)

    @property
    def has_sources(self) -> bool:
        return bool(self.source_calls) or bool(self.token_names)

    # -- checks made before this function sees the token ---------------------
    def _checked_upstream(self, call: ast.Call | None, kind: str) -> bool:
        """A token class or an authenticator hook that compares the claim before the token gets here."""
        if kind == "project-token" and call is not None:
            info = self.ctx.project.resolve_class(self.qualify(call.func), near=self.module.path)
            return info is not None and self._class_checks(info, _TOKEN_CLASS_HOOKS, token_self=True)
        if kind != "validated":
            return False
        receiver = call.func.value if call is not None else None
        if self.owner is not None and (receiver is None or root_name(receiver) == "self"):
            info = self.ctx.project.class_in_module(self.module, self.owner)
            if self._class_checks(info, _AUTHENTICATOR_HOOKS, token_self=False):
                return True
        return any(self._class_checks(info, _TOKEN_CLASS_HOOKS, token_self=True)
                   for info in self._settings_token_classes)

    def _class_checks(self, info: ClassInfo, hooks: tuple[str, ...], token_self: bool) -> bool:
        """Whether a hook of the class or a project ancestor, or a method it calls on `self`, compares the claim."""
        chain = class_chain(self.ctx, info.module, info.node)
        nearest: dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, ClassInfo]] = {}
        for holder in chain:
            for name, method in methods(holder).items():
                nearest.setdefault(name, (method, holder))
        for holder in chain:
            for name, hook in methods(holder).items():
                if name not in hooks or hook is self.function:
                    continue
                called = {n.func.attr for n in own_nodes(hook) if isinstance(n, ast.Call)
                          and isinstance(n.func, ast.Attribute) and root_name(n.func) == "self"}
                candidates = [(hook, holder), *(nearest[c] for c in sorted(called) if c in nearest)]
                for method, owner in candidates:
                    if method is self.function:
                        continue
                    reading = TokenFunction(method, self.ctx, owner.module, owner.node, depth=1, token_self=token_self)
                    if reading.has_tenant_check:
                        return True
        return False

    @cached_property
    def _settings_token_classes(self) -> list[ClassInfo]:
        """Project token classes named in SIMPLE_JWT['AUTH_TOKEN_CLASSES']."""
        found = []
        for view in self.ctx.governing_settings:
            value = view.lookup("SIMPLE_JWT", "AUTH_TOKEN_CLASSES")
            if isinstance(value, Seq):
                for item in value.strings():
                    info = self.ctx.project.resolve_class(item.value, near=self.module.path)
                    if info is not None:
                        found.append(info)
        return found

    # -- the tenant claim and the active tenant -----------------------------
    def is_claim_key(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return node.value == self.claim
        name = identifier(node)
        if name is None:
            return False
        if self.constants.get(name) == self.claim:
            return True
        lowered = name.lower()
        return "tenant" in lowered and "claim" in lowered

    def claim_receiver(self, node: ast.AST) -> ast.expr | None:
        """`token` in `token['tenant_schema']`, `token.get('tenant_schema')`, `getattr(token, 'tenant_schema')`."""
        if isinstance(node, ast.Subscript) and self.is_claim_key(node.slice):
            return node.value
        if isinstance(node, ast.Call) and node.args:
            if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and self.is_claim_key(node.args[0]):
                return node.func.value
            if _is_getattr(node) and self.is_claim_key(node.args[1]):
                return node.args[0]
        return None

    def is_claim_read(self, node: ast.AST) -> bool:
        receiver = self.claim_receiver(node)
        if receiver is None:
            return False
        if self.derives(receiver):
            return True
        root = root_name(receiver)
        return self.loose and root is not None and bool(_TOKEN_NAME.search(root))

    @cached_property
    def claim_names(self) -> set[str]:
        return self._closure(set(), lambda value, names: any(
            (isinstance(n, ast.Name) and n.id in names) or self.is_claim_read(n) for n in walk(value)))

    def is_claim(self, expr: ast.AST) -> bool:
        return any((isinstance(n, ast.Name) and n.id in self.claim_names) or self.is_claim_read(n)
                   for n in walk(expr))

    @cached_property
    def active_names(self) -> set[str]:
        return self._closure(set(), lambda value, names: not self.derives(value)
                             and self._mentions_active(value, names))

    def is_active(self, expr: ast.AST) -> bool:
        """Whether the expression holds the tenant the request is served for (and nothing from the token)."""
        return not self.derives(expr) and not self.is_claim(expr) and self._mentions_active(expr, self.active_names)

    def _mentions_active(self, expr: ast.AST, names: set[str]) -> bool:
        scopes = self._scope_attributes
        for node in walk(expr):
            if isinstance(node, ast.Attribute) and (node.attr in _ACTIVE_ATTRIBUTES or node.attr in scopes):
                return True
            if isinstance(node, ast.Subscript) and _constant_in(node.slice, _ACTIVE_ATTRIBUTES):
                return True
            if _is_getattr(node) and _constant_in(node.args[1], _ACTIVE_ATTRIBUTES):
                return True
            if isinstance(node, ast.Name) and (node.id in names or self._tenant_like_name(node.id)):
                return True
        return False

    @cached_property
    def _scope_attributes(self) -> frozenset[str]:
        """`request.company`: the attribute a row-level project keeps its tenant model's row under."""
        return frozenset(self.ctx.tenancy.scope_names())

    def _tenant_like_name(self, name: str) -> bool:
        lowered = name.lower()
        return (("tenant" in lowered or "schema" in lowered) and "claim" not in lowered
                and name not in self.constants and name not in self.tainted)

    def is_tenant_comparison(self, node: ast.AST) -> bool:
        """`claim != connection.schema_name` and its spellings."""
        if not isinstance(node, ast.Compare) or not any(isinstance(op, _EQUALITY) for op in node.ops):
            return False
        operands = [node.left, *node.comparators]
        return any(self.is_claim(o) for o in operands) and any(self.is_active(o) for o in operands)

    def is_user_tenant_comparison(self, node: ast.AST) -> bool:
        """`user.tenant_id != request.tenant.id`: the user found belongs to the tenant being served."""
        if not isinstance(node, ast.Compare) or not any(isinstance(op, _EQUALITY) for op in node.ops):
            return False
        operands = [node.left, *node.comparators]
        users = [o for o in operands if self._user_tenant(o)]
        return bool(users) and any(all(o is not u for u in users) and self.is_active(o) for o in operands)

    def _user_tenant(self, expr: ast.AST) -> bool:
        attributes = []
        while isinstance(expr, ast.Attribute):
            attributes.append(expr.attr.lower())
            expr = expr.value
        return (isinstance(expr, ast.Name) and "user" in expr.id.lower()
                and any("tenant" in a or a.removesuffix("_id") in self._scope_attributes for a in attributes))

    def tenant_comparisons(self, expr: ast.AST) -> list[ast.Compare]:
        return [n for n in walk(expr) if self.is_tenant_comparison(n)]

    @cached_property
    def has_tenant_check(self) -> bool:
        return any(self.is_tenant_comparison(n) for n in self.nodes)

    @cached_property
    def verdict_names(self) -> set[str]:
        """Locals holding the outcome of a tenant check: `ok = claim == connection.schema_name`."""
        return self._closure(set(), lambda value, names: bool(self.tenant_comparisons(value)) or any(
            isinstance(n, ast.Call) and self.callee_kind(n) == "checks" for n in walk(value)))

    # -- user lookups ---------------------------------------------------------
    @cached_property
    def _user_model_names(self) -> set[str]:
        names = set()
        for statement in [*self.module.tree.body, *(n for n in self.nodes if isinstance(n, ast.Assign))]:
            if isinstance(statement, ast.Assign) and self._is_user_model_call(statement.value):
                names |= {n for t in statement.targets for n in _target_names(t)}
        return names

    def _is_user_model_call(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        if self.qualify(node.func) in GET_USER_MODEL or identifier(node.func) == "get_user_model":
            return True
        return identifier(node.func) == "get_model" and any(
            identifier(a) == "AUTH_USER_MODEL" for arg in node.args for a in walk(arg))

    def is_user_model(self, node: ast.AST) -> bool:
        if self._is_user_model_call(node):
            return True
        name = identifier(node)
        if name is None:
            return False
        if name in self._user_model_names or _USER_MODEL_NAME.search(name):
            return True
        dotted = self.qualify(node)
        if dotted is None or not name[:1].isupper():
            return False
        return dotted in USER_MODELS or bool(self.ctx.project.ancestors(dotted, near=self.module.path) & USER_MODELS)

    def manager_chain(self, node: ast.AST) -> list[ast.Call] | None:
        """The calls of `User.objects.filter(...).first` style chains rooted at a user model's manager."""
        calls: list[ast.Call] = []
        while True:
            if isinstance(node, ast.Call):
                calls.append(node)
                node = node.func
            elif isinstance(node, ast.Attribute):
                if node.attr in _MANAGERS and self.is_user_model(node.value):
                    return calls
                node = node.value
            else:
                return None

    def _unwrap_sync(self, callee: ast.expr) -> ast.expr:
        """`User.objects.get` in `sync_to_async(User.objects.get)(...)`."""
        if isinstance(callee, ast.Call) and callee.args:
            name = identifier(callee.func)
            if self.qualify(callee.func) in SYNC_TO_ASYNC or name in {"sync_to_async", "database_sync_to_async"}:
                return callee.args[0]
        return callee

    def _lookup_calls(self, call: ast.Call) -> list[ast.Call] | None:
        """The calls whose arguments choose the user, when `call` looks a user up; else None."""
        target = self._unwrap_sync(call.func)
        chain = self.manager_chain(target)
        if chain is not None:
            return [call, *chain]
        name = identifier(target)
        shortcut = self.qualify(target) in GET_OBJECT_OR_404 or name in {"get_object_or_404", "aget_object_or_404"}
        if shortcut and call.args:
            first = call.args[0]
            return [call] if self.is_user_model(first) or self.manager_chain(first) is not None else None
        return [call] if self.callee_kind(call) == "looks_up" else None

    @cached_property
    def lookups(self) -> list[ast.Call]:
        """User lookups whose arguments come from the token; the outermost call of a chain only."""
        found: dict[int, tuple[ast.Call, list[ast.Call]]] = {}
        for node in self.nodes:
            if isinstance(node, ast.Call):
                calls = self._lookup_calls(node)
                if calls and any(self.derives(arg) for c in calls for arg in _arguments(c)):
                    found[id(node)] = (node, calls)
        inner = {id(c) for _, calls in found.values() for c in calls[1:]}
        return [call for key, (call, _) in found.items() if key not in inner]

    # -- calls to helpers -----------------------------------------------------
    def callee_kind(self, call: ast.Call) -> str | None:
        """'checks' (a helper comparing the claim), 'looks_up' (a user lookup) or None, for a called function."""
        target = self._unwrap_sync(call.func)
        name = identifier(target)
        if name is None:
            return None
        found = self._resolve_callee(target)
        if found == "skip":
            return None
        if found is not None and self.depth == 0:
            function, module, owner, is_method = found
            return self._helper_kind(function, module, owner, self._tainted_parameters(call, function, is_method))
        return "looks_up" if _USER_LOOKUP_NAME.match(name) else None

    def _resolve_callee(self, target: ast.expr):
        """(function, module, owning class, is a method) for a helper defined in the project, 'skip', or None."""
        if isinstance(target, ast.Name):
            function = _module_function(self.module, target.id)
            if function is not None:
                return function, self.module, None, False
            dotted = self.qualify(target)
            module = self.ctx.project.module(dotted.rpartition(".")[0], near=self.module.path) if dotted else None
            function = _module_function(module, dotted.rpartition(".")[2]) if module is not None else None
            return (function, module, None, False) if function is not None else None
        if not isinstance(target, ast.Attribute) or self.owner is None:
            return None
        receiver = target.value
        from_super = isinstance(receiver, ast.Call) and identifier(receiver.func) == "super"
        if not (from_super or (isinstance(receiver, ast.Name) and receiver.id in {"self", "cls"})):
            return None
        chain = class_chain(self.ctx, self.module, self.owner)
        for holder in chain[1:] if from_super else chain:
            method = methods(holder).get(target.attr)
            if method is not None:
                if target.attr == "get_user" and self._is_authenticator(holder):
                    return "skip"  # an override: checked where it is defined
                is_static = any(identifier(d) == "staticmethod" for d in method.decorator_list)
                return method, holder.module, holder.node, not is_static
        return None

    def _tainted_parameters(self, call: ast.Call, function, is_method: bool) -> frozenset[str]:
        params = [a.arg for a in function.args.posonlyargs + function.args.args][1 if is_method else 0:]
        names = set()
        for index, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                break
            if index < len(params) and self.derives(arg):
                names.add(params[index])
        names |= {kw.arg for kw in call.keywords if kw.arg and self.derives(kw.value)}
        return frozenset(names)

    def _helper_kind(self, function, module: ModuleInfo, owner, tainted: frozenset[str]) -> str | None:
        key = (id(function), tainted)
        if key not in self._helper_kinds:
            reading = TokenFunction(function, self.ctx, module, owner, depth=1, tainted=tainted)
            if reading.has_tenant_check:
                kind = "checks"
            elif reading.lookups or _USER_LOOKUP_NAME.match(function.name):
                kind = "looks_up"
            else:
                kind = None
            self._helper_kinds[key] = kind
        return self._helper_kinds[key]

    # -- guards ---------------------------------------------------------------
    def is_guarded(self, lookup: ast.Call) -> bool:
        """A comparison of the claim to the active tenant holds on every path to the lookup, or right after it."""
        if any(self._atom_guards(atom) for atom in flow.known_at(self.function, lookup)):
            return True
        if any(self._statement_checks(s) for block, index, _ in self._enclosing_blocks(lookup) for s in block[:index]):
            return True
        return self._checked_before_returning(lookup)

    def _atom_guards(self, atom: flow.Atom) -> bool:
        expr = atom.expr
        if isinstance(expr, ast.Compare) and len(expr.ops) == 1 and (
                self.is_tenant_comparison(expr) or self.is_user_tenant_comparison(expr)):
            return atom.holds == isinstance(expr.ops[0], _POSITIVE)
        return any(self.is_tenant_comparison(n) or self.is_user_tenant_comparison(n) or (isinstance(n, ast.Name) and n.id in self.verdict_names)
                   or (isinstance(n, ast.Call) and self.callee_kind(n) == "checks") for n in walk(expr))

    def _statement_checks(self, statement: ast.stmt) -> bool:
        """A statement that stops a mismatching token: `if claim != schema: raise`, `self.check_tenant(token)`."""
        if isinstance(statement, ast.Assert):
            return any(self._atom_guards(atom) for atom in flow.atoms(statement.test, True))
        if isinstance(statement, ast.If):
            body_exits, else_exits = flow.always_exits(statement.body), flow.always_exits(statement.orelse)
            if body_exits == else_exits:
                return False
            return any(self._atom_guards(atom) for atom in flow.atoms(statement.test, else_exits))
        if not isinstance(statement, (ast.Expr, ast.Assign, ast.AnnAssign)):
            return False
        value = statement.value
        if isinstance(value, ast.Await):
            value = value.value
        return isinstance(value, ast.Call) and self.callee_kind(value) == "checks"

    def _checked_before_returning(self, lookup: ast.Call) -> bool:
        """`user = super().get_user(token)` then `if claim != schema: raise`: the user is never handed out."""
        for depth, (block, index, holder) in enumerate(self._enclosing_blocks(lookup)):
            if depth == 0 and _returns(block[index]):
                return False
            for statement in block[index + 1:]:
                if self._statement_checks(statement):
                    return True
                if _returns(statement):
                    return False
            if not isinstance(holder, (ast.If, ast.With, ast.AsyncWith, ast.Try, ast.ExceptHandler)):
                return False
        return False

    def _enclosing_blocks(self, node: ast.AST) -> Iterator[tuple[list[ast.stmt], int, ast.AST]]:
        """(statement list, index of the statement holding `node`, holder of the list), innermost first."""
        current = node
        while current is not self.function and current in self.parent:
            holder = self.parent[current]
            if isinstance(current, ast.stmt):
                for _, value in ast.iter_fields(holder):
                    if isinstance(value, list) and any(item is current for item in value):
                        yield value, next(i for i, item in enumerate(value) if item is current), holder
                        break
            current = holder

    # -- TL502: does a check let a token without the claim through? ----------
    def tenant_checks(self) -> list[tuple[ast.stmt, ast.expr]]:
        """(statement, test) for `if`, `while` and `assert` tests comparing the claim to the active tenant,
        and for predicates returned by a helper (`return not claim or claim == schema`)."""
        checks = []
        for node in self.nodes:
            if isinstance(node, (ast.If, ast.While, ast.Assert)) and self.tenant_comparisons(node.test):
                checks.append((node, node.test))
            elif (isinstance(node, ast.Return) and isinstance(node.value, (ast.Compare, ast.BoolOp, ast.UnaryOp))
                  and self.tenant_comparisons(node.value)):
                checks.append((node, node.value))
        return checks

    def fail_open(self, check: ast.stmt, test: ast.expr) -> tuple[str, ast.ExceptHandler | None] | None:
        """('skipped', None) or ('swallowed', handler) when a token lacking the claim gets past the check.

        The test is evaluated for three tokens: one whose claim matches the active
        tenant, one whose claim differs, and one without the claim; a check nested in
        `if claim is not None:` is skipped when that test fails, which for an `if`
        is its test being false and for an `assert` its passing (a returned predicate
        is judged on its own). Atoms that say nothing about the claim
        (`current_schema and ...`) are tried both ways; only settings of them under
        which the test tells match from mismatch count.
        """
        enclosing = [] if isinstance(check, ast.Return) else self._enclosing_conditions(check)
        conditions = [*enclosing, (test, True)]
        skipped = isinstance(check, ast.Assert)
        unknown = [atom for expr, _ in conditions for atom in self._unknown_atoms(expr)][:_MAX_UNKNOWN_ATOMS]

        def outcome(scenario: str, chosen: dict[int, bool]) -> bool:
            for expr, holds in conditions[:-1]:
                if self._evaluate(expr, scenario, chosen) != holds:
                    return skipped
            return self._evaluate(test, scenario, chosen)

        for values in itertools.product((True, False), repeat=len(unknown)):
            chosen = {id(atom): value for atom, value in zip(unknown, values)}
            accepted = outcome(MATCH, chosen)
            if accepted == outcome(MISMATCH, chosen):
                continue
            try:
                missing = outcome(MISSING, chosen)
            except _ClaimRaises as raised:
                if raised.handler is not None:
                    return "swallowed", raised.handler
                continue
            if missing == accepted:
                return "skipped", None
        return None

    def _enclosing_conditions(self, node: ast.AST) -> list[tuple[ast.expr, bool]]:
        """Tests of the `if` statements the node sits in, outermost first, with the value they need.

        An `if` whose other branch always exits is left out: a token sent there is
        turned away, not let through unchecked.
        """
        conditions = []
        current = node
        while current in self.parent and current is not self.function:
            holder = self.parent[current]
            if isinstance(holder, ast.If) and current is not holder.test:
                in_body = any(s is current for s in holder.body)
                if not flow.always_exits(holder.orelse if in_body else holder.body):
                    conditions.append((holder.test, in_body))
            current = holder
        return conditions[::-1]

    def _operands(self, expr: ast.expr) -> list[ast.expr] | None:
        """The parts a boolean test is made of, or None for an atom."""
        if isinstance(expr, ast.BoolOp):
            return expr.values
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
            return [expr.operand]
        if isinstance(expr, ast.NamedExpr):
            return [expr.value]
        if isinstance(expr, ast.Name) and expr.id in self.verdict_names:
            value = self._assigned_value(expr.id)
            return [value] if value is not None else None
        return None

    def claim_role(self, expr: ast.expr) -> str | None:
        """PRESENT when the operand is true exactly for tokens carrying the claim (`claim is not None`,
        `'tenant_schema' in token`), ABSENT for the opposite, NEUTRAL when it says nothing about the
        claim (`current_schema`); None for anything else, a comparison of the claim included."""
        if not self._unknown_atoms(expr):
            try:
                values = [self._evaluate(expr, scenario, {}) for scenario in (MATCH, MISMATCH, MISSING)]
            except _ClaimRaises:
                return None
            return {(True, True, False): PRESENT, (False, False, True): ABSENT}.get(tuple(values))
        if self.is_claim(expr) or any(self._atom_value(a, MATCH) is not None for a in self._atoms_of(expr)):
            return None
        return NEUTRAL

    def _atoms_of(self, expr: ast.expr) -> list[ast.expr]:
        operands = self._operands(expr)
        return [expr] if operands is None else [atom for operand in operands for atom in self._atoms_of(operand)]

    def _unknown_atoms(self, expr: ast.expr) -> list[ast.expr]:
        """Atoms that say nothing about the claim, e.g. `current_schema` in `current_schema and ...`."""
        operands = self._operands(expr)
        if operands is not None:
            return [atom for operand in operands for atom in self._unknown_atoms(operand)]
        return [expr] if self._atom_value(expr, MATCH) is None else []

    def _evaluate(self, expr: ast.expr, scenario: str, chosen: dict[int, bool]) -> bool:
        """The test's value for a token in `scenario`, short-circuiting as Python does."""
        if isinstance(expr, ast.BoolOp):
            stop = isinstance(expr.op, ast.Or)
            return stop if any(self._evaluate(v, scenario, chosen) == stop for v in expr.values) else not stop
        operands = self._operands(expr)
        if operands is not None:
            value = self._evaluate(operands[0], scenario, chosen)
            return not value if isinstance(expr, ast.UnaryOp) else value
        known = self._atom_value(expr, scenario)
        return chosen.get(id(expr), True) if known is None else known

    def _atom_value(self, expr: ast.expr, scenario: str) -> bool | None:
        if isinstance(expr, ast.Compare):
            return self._compare_value(expr, scenario) if len(expr.ops) == 1 else None
        if self.is_claim(expr) and not isinstance(expr, (ast.BoolOp, ast.UnaryOp)):
            return True if scenario != MISSING else _truthy(self.missing_value(expr, expr))
        return None

    def _compare_value(self, node: ast.Compare, scenario: str) -> bool | None:
        op, left, right = node.ops[0], node.left, node.comparators[0]
        positive = isinstance(op, _POSITIVE)
        if self.is_tenant_comparison(node):
            if scenario == MISSING:
                claim = left if self.is_claim(left) else right
                equal = self.missing_value(claim, node) == ("active",)
            else:
                equal = scenario == MATCH
            return equal == positive
        if isinstance(op, (ast.In, ast.NotIn)) and self.is_claim_key(left) and (self.derives(right) or self.loose):
            return (scenario != MISSING) == positive
        for claim, other in ((left, right), (right, left)):
            if isinstance(other, ast.Constant) and other.value is None and self.is_claim(claim):
                is_none = scenario == MISSING and self.missing_value(claim, node) == ("none",)
                return is_none == positive
        return None

    def missing_value(self, expr: ast.expr, test: ast.AST) -> tuple:
        """What a claim expression holds for a token without the claim: ('none',), ('active',), ('const', v).

        Raises `_ClaimRaises` when reading it raises (`token['tenant_schema']`).
        """
        if isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.Or) and len(expr.values) > 1:
            first = self.missing_value(expr.values[0], test)
            if _truthy(first):
                return first
            fallback = expr.values[1]
            if self.is_active(fallback):
                return ("active",)
            return ("const", fallback.value) if isinstance(fallback, ast.Constant) else ("none",)
        if isinstance(expr, ast.Name) and expr.id in self.claim_names:
            for targets, value, _ in self._assignments:
                if expr.id in targets:
                    try:
                        return self.missing_value(value, test)
                    except _ClaimRaises as raised:
                        # Swallowed while assigning: the check is skipped if it sits in the same `try`,
                        # else it runs on whatever the handler left (None, or an unbound name).
                        if raised.handler is None or self._inside_try_body_of(test, raised.handler):
                            raise
                        return ("none",)
            return ("none",)
        receiver = self.claim_receiver(expr)
        if receiver is not None:
            if isinstance(expr, ast.Subscript) or (isinstance(expr.func, ast.Name) and len(expr.args) < 3):
                raise _ClaimRaises(self._swallowing_handler(expr))
            default = expr.args[-1] if isinstance(expr.func, ast.Name) or len(expr.args) > 1 else next(
                (kw.value for kw in expr.keywords if kw.arg == "default"), None)
            if default is None:
                return ("none",)
            if self.is_active(default):
                return ("active",)
            return ("const", default.value) if isinstance(default, ast.Constant) else ("none",)
        inner = next((n for n in walk(expr) if n is not expr and (
            self.is_claim_read(n) or (isinstance(n, ast.Name) and n.id in self.claim_names))), None)
        return self.missing_value(inner, test) if inner is not None else ("none",)

    def _assigned_value(self, name: str) -> ast.expr | None:
        return next((value for targets, value, _ in self._assignments if name in targets), None)

    def _swallowing_handler(self, node: ast.AST) -> ast.ExceptHandler | None:
        """The `except` around `node` that catches a missing claim and carries on."""
        current = node
        while current in self.parent and current is not self.function:
            holder = self.parent[current]
            if isinstance(holder, ast.Try) and any(s is current for s in holder.body):
                for handler in holder.handlers:
                    if _catches_missing_claim(handler) and not flow.always_exits(handler.body):
                        return handler
            current = holder
        return None

    def _inside_try_body_of(self, node: ast.AST, handler: ast.ExceptHandler) -> bool:
        statement = self.parent.get(handler)
        return isinstance(statement, ast.Try) and any(flow.contains(s, node) for s in statement.body)


def _constant_in(node: ast.AST, values) -> bool:
    """A constant whose value is one of `values` (a container) or of that type (a type)."""
    if not isinstance(node, ast.Constant):
        return False
    return isinstance(node.value, values) if isinstance(values, type) else node.value in values


def _is_getattr(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) >= 2)


def _module_function(module: ModuleInfo, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    functions = (s for s in module.tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return next((f for f in functions if f.name == name), None)


def _target_names(target: ast.AST) -> set[str]:
    return {n.id for n in walk(target) if isinstance(n, ast.Name)}


def _arguments(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(kw.value for kw in call.keywords)]


def _returns(statement: ast.stmt) -> bool:
    """Whether the statement may hand a value out of the function (nested functions aside)."""
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)):
            return True
        stack.extend(child for child in child_nodes(node) if not isinstance(child, _SCOPES))
    return False


def _truthy(value: tuple) -> bool:
    return value == ("active",) or (value[0] == "const" and bool(value[1]))


def _catches_missing_claim(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(identifier(t) in _CAUGHT_BY_MISSING_CLAIM for t in types)
