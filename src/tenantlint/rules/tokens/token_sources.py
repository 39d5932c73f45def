"""Where one function's tokens come from (simplejwt, PyJWT, python-jose decodes and `get_user`
overrides), which names hold them, and how their tenant claim and the active tenant are read: the
first part of `TokenFunction`, shared by TL501 and TL502, with the helpers all its parts use."""

from __future__ import annotations

import ast
import re
from functools import cached_property

from tenantlint.model.known import AUTHENTICATORS, JWT_DECODE_FUNCTIONS, SIMPLEJWT_TOKEN_CLASSES
from tenantlint.model.project import ClassInfo, ModuleInfo, qualify_with, resolve_relative
from tenantlint.model.settings_values import Seq
from tenantlint.trees import child_nodes, own_nodes, per_tree, walk

# Nested functions and classes are read on their own; lambdas and comprehensions belong to the function.
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# Attributes and keys that hold the tenant the request is served for (`connection.schema_name`, `request.tenant`).
_ACTIVE_ATTRIBUTES = frozenset({"schema_name", "tenant", "tenant_id", "tenant_schema", "tenant_name", "schema"})
# What a helper calls the token it was handed (`token`, `validated_token`, `payload`, `claims`).
_TOKEN_NAME = re.compile(r"token|payload|claims|jwt|decoded", re.IGNORECASE)
_DECODE_HINTS = frozenset({"get_validated_token", "decode", "decode_complete"})
# Methods that see a token before `get_user` does (an authenticator's) or while it is decoded (a token
# class's): a check in them, or in a method they call on `self`, covers the token.
_AUTHENTICATOR_HOOKS = ("authenticate", "get_validated_token")
_TOKEN_CLASS_HOOKS = ("__init__", "verify")

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
    for node in own_nodes(function.body):
        if isinstance(node, ast.Call):
            name = identifier(node.func)
            if isinstance(node.func, ast.Name) and name in bindings:
                name = bindings[name].rpartition(".")[2]  # `UT` in `from ...tokens import UntypedToken as UT`
            if name and (name in _DECODE_HINTS or name.endswith("Token")):
                return True
    return False


def mentions_claim(function: ast.FunctionDef | ast.AsyncFunctionDef, claim: str, constants: dict[str, str]) -> bool:
    """Cheap filter: the claim's name, a constant holding it, or a `TENANT_CLAIM`-like name appears."""
    for node in own_nodes(function.body):
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


class TokenSources:
    """One function read for tokens: their sources, the names derived from them, their claims.

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
        self.nodes = list(own_nodes(function.body))
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
                found.append(({n for t in node.targets for n in target_names(t)}, node.value, node))
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                found.append((target_names(node.target), node.value, node))
            elif isinstance(node, ast.NamedExpr):
                found.append(({node.target.id}, node.value, node))
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                found.append((target_names(node.target), node.iter, node))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                found.append((target_names(node.optional_vars), node.context_expr, node))
            elif isinstance(node, ast.comprehension):
                found.append((target_names(node.target), node.iter, node))
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
                called = {n.func.attr for n in own_nodes(hook.body) if isinstance(n, ast.Call)
                          and isinstance(n.func, ast.Attribute) and root_name(n.func) == "self"}
                candidates = [(hook, holder), *(nearest[c] for c in sorted(called) if c in nearest)]
                for method, owner in candidates:
                    if method is self.function:
                        continue
                    reading = type(self)(method, self.ctx, owner.module, owner.node, depth=1, token_self=token_self)
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

    # -- user lookups ---------------------------------------------------------
    # -- calls to helpers -----------------------------------------------------
    # -- guards ---------------------------------------------------------------
    # -- TL502: does a check let a token without the claim through? ----------
def _constant_in(node: ast.AST, values) -> bool:
    """A constant whose value is one of `values` (a container) or of that type (a type)."""
    if not isinstance(node, ast.Constant):
        return False
    return isinstance(node.value, values) if isinstance(values, type) else node.value in values


def _is_getattr(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) >= 2)


def target_names(target: ast.AST) -> set[str]:
    return {n.id for n in walk(target) if isinstance(n, ast.Name)}


