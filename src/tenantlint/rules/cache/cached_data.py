"""What a cache key stands for, as TL201 asks the project model: does the cached entry differ per tenant?

An unscoped key leaks only when two tenants would share an entry that should be theirs alone. That
is not the case for a key over data that is the same for everyone (loaded from a file, an app-level
API token, a health probe that writes a constant and reads it back), over data of shared
public-schema models, or over ids that are globally unique (UUIDs, Celery task ids; and every id
where the tenancy is row-level or derived from the user). Per-client-IP counters are per IP on
purpose: scoping them per tenant would weaken them.
"""

from __future__ import annotations

import ast
import re

from tenantlint.model.tenancy import NONE, ROW, SCHEMA, UNKNOWN, Tenancy

_QUERYSET_CALLS = frozenset({"filter", "exclude", "annotate", "aggregate", "values_list", "select_related",
                             "prefetch_related", "get_queryset", "order_by", "distinct", "get_object", "only"})
_REQUEST_DATA = frozenset({"user", "tenant", "organization", "company", "session", "auth"})
# parts of a key that are unique across tenants whatever the tenancy, or per client on purpose
_GLOBALLY_UNIQUE = re.compile(r"uuid|guid|task_id|request\.id\b|session_key|\bjti\b", re.IGNORECASE)
_PER_CLIENT = re.compile(r"\bip\b|_ip\b|\bip_|remote_addr|x_forwarded_for|client_address|META", re.IGNORECASE)
# a part that names a user or a row: its id is global unless ids repeat per schema
_IDENTIFIES = re.compile(r"(?:^|[._])(?:id|pk)\b|_id\b|user|email|phone|mobile", re.IGNORECASE)
_MAX_CALL_DEPTH = 2


def names_a_row(part: str) -> bool:
    """A key part that identifies a user or a row (`user.pk`, `order_id`), not a globally unique id."""
    return bool(_IDENTIFIES.search(part)) and not _GLOBALLY_UNIQUE.search(part)


class CachedData:
    """Reads, for one file, where the data cached by each function comes from."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.tenancy: Tenancy = ctx.tenancy
        self._functions = {node.name: node for node in ctx.tree.body
                           if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self._reads: dict[int, bool] = {}
        self._tenant_words = _REQUEST_DATA | set(self.tenancy.scope_names())
        self._models: dict[int, frozenset[str]] = {}

    # -- the decision ----------------------------------------------------------
    def shared_by_design(self, variables: list[str], scopes: list[ast.AST]) -> str | None:
        """Why an unscoped key used in `scopes` (enclosing classes and functions, innermost last) does
        not leak, or None when it does."""
        if variables and all(_GLOBALLY_UNIQUE.search(v) or _PER_CLIENT.search(v) for v in variables):
            return "globally unique or per-client key"
        repeat = self.tenancy.ids_repeat_across_tenants
        if not repeat and any(_IDENTIFIES.search(v) for v in variables):
            return f"ids are global with {self.tenancy.kind} tenancy"
        if self._in_shared_app():
            return "code of a shared (public-schema) app"
        function = scopes[-1] if scopes and not isinstance(scopes[-1], ast.ClassDef) else None
        if function is None:
            return None
        if self.tenancy.kind in (SCHEMA, UNKNOWN):
            models = self._models_read(function, scopes)
            if models and all(self._shared_model(m) for m in models):
                return "reads only shared models"
        if not variables or not repeat:  # nothing in the key tells two tenants' entries apart
            if self._probe(function):
                return "a probe that writes a constant and reads it back"
            # with no settings in sight, which data is per tenant is not known: every constant key counts
            if self.tenancy.kind != UNKNOWN and not self._reads_tenant_data(function, scopes, 0):
                return "cached data read from no model or request"
        return None

    # -- where the data comes from -------------------------------------------------
    def _reads_tenant_data(self, function: ast.AST, scopes: list[ast.AST], depth: int) -> bool:
        """Models, querysets or the request's user or tenant, here or in a function of this module (or a
        method of this class) it calls; with no tenancy at all, only what depends on the user counts."""
        key = id(function)
        if key in self._reads:
            return self._reads[key]
        self._reads[key] = False  # recursion guard
        found = False
        for node in ast.walk(function):
            if self._data_access(node):
                found = True
                break
            if depth < _MAX_CALL_DEPTH and isinstance(node, ast.Call):
                callee = self._callee(node.func, scopes)
                if callee is None and isinstance(node.func, ast.Attribute) and node.func.attr == "get_queryset":
                    callee = self._class_queryset(scopes)  # a view's `queryset = Model.objects...`
                if callee is not None and callee is not function and self._reads_tenant_data(callee, scopes, depth + 1):
                    found = True
                    break
        self._reads[key] = found
        return found

    def _data_access(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):
            if node.attr == "user" or _names_user(node.value):  # the user's own data: it leaks across users
                return True
            if self.tenancy.kind == NONE:
                return False
            if node.attr == "objects":
                return self._per_tenant_model(node.value)
            return node.attr == "queryset" or (node.attr in self._tenant_words and _names_request(node.value))
        if isinstance(node, ast.keyword) and node.arg:  # `filter(company=...)`, `filter(tenant_id=...)`
            return node.arg.split("__")[0].removesuffix("_id") in self._tenant_words - {"user", "auth", "session"}
        if self.tenancy.kind != NONE and isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if self._models_known():  # any queryset verb could be over a model with no tenant in it
                return False
            return name in _QUERYSET_CALLS or name.endswith("Serializer")
        return False

    def _models_known(self) -> bool:
        return self.tenancy.kind == ROW and bool(self.tenancy.tenant_models)

    def _per_tenant_model(self, node: ast.expr) -> bool:
        """With row-level tenancy, only models with a foreign key to the tenant hold per-tenant rows."""
        if not self._models_known():
            return True
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
        return name in self.tenancy.tenant_models

    def _callee(self, func: ast.expr, scopes: list[ast.AST]) -> ast.AST | None:
        if isinstance(func, ast.Name):
            return self._functions.get(func.id)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
            owner = next((s for s in reversed(scopes) if isinstance(s, ast.ClassDef)), None)
            if owner is None:
                owner = next((p for p in reversed(self.ctx.parents) if isinstance(p, ast.ClassDef)), None)
            if owner is not None:
                return next((n for n in owner.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                             and n.name == func.attr), None)
        return None

    def _class_queryset(self, scopes: list[ast.AST]) -> ast.AST | None:
        owner = next((s for s in reversed(scopes) if isinstance(s, ast.ClassDef)), None)
        if owner is None:
            return None
        return next((n for n in owner.body if isinstance(n, ast.Assign)
                     and any(isinstance(t, ast.Name) and t.id == "queryset" for t in n.targets)), None)

    def _probe(self, function: ast.AST) -> bool:
        """`cache.set(key, <constant>)` and a read of the same key: a check that the cache works."""
        written, read = set(), set()
        for node in ast.walk(function):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
                continue
            key = ast.dump(node.args[0])
            method = node.func.attr.lstrip("a") if node.func.attr.startswith("a") else node.func.attr
            if method in ("set", "add") and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                written.add(key)
            elif method in ("get", "has_key", "delete"):
                read.add(key)
        return bool(written & read)

    # -- shared and per-tenant apps ------------------------------------------------
    def _models_read(self, function: ast.AST, scopes: list[ast.AST]) -> frozenset[str]:
        """Dotted names of the classes whose `.objects` the function reads."""
        key = id(function)
        if key not in self._models:
            found = set()
            text = self.ctx.segment(function) or ""
            for node in ast.walk(function) if "objects" in text else ():
                if isinstance(node, ast.Attribute) and node.attr == "objects":
                    dotted = self.ctx.imports.qualify(node.value)
                    if dotted is None and isinstance(node.value, ast.Name) and node.value.id in self.ctx.module.classes:
                        dotted = f"{self.ctx.module.name}.{node.value.id}"
                    found.add(dotted or "?")
            self._models[key] = frozenset(found)
        return self._models[key]

    def _shared_model(self, dotted: str) -> bool:
        return dotted != "?" and self.tenancy.app_kind(dotted) == "shared"

    def _in_shared_app(self) -> bool:
        return self.tenancy.kind == SCHEMA and self.tenancy.app_kind(self.ctx.module.name) == "shared"


def _names_request(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "request") or (
        isinstance(node, ast.Attribute) and node.attr == "request")


def _names_user(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "user") or (isinstance(node, ast.Attribute) and node.attr == "user")
