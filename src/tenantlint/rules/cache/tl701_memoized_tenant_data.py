"""TL701 memoized-tenant-data: a memo kept for the whole process holds what one tenant's data gave."""

from __future__ import annotations

import ast
from typing import Iterator

from tenantlint.diagnostics import Diagnostic
from tenantlint.model.execution import MIDDLEWARE, TEST
from tenantlint.model.known import DB_CONNECTION
from tenantlint.model.summaries import Reach, class_methods, takes_tenant
from tenantlint.rules.base import SCHEMA_PER_TENANT_SETTINGS, Rule, register

# memo decorators whose store lives as long as the function (keyed by the arguments only)
_MEMOS = frozenset({
    "functools.lru_cache", "functools.cache", "cachetools.cached", "cachetools.func.lru_cache",
    "cachetools.func.ttl_cache", "cachetools.func.lfu_cache", "cachetools.func.fifo_cache",
    "cachetools.func.rr_cache", "cachetools.func.mru_cache",
})
# memo decorators whose store lives as long as the object: a leak only where the object outlives a request
_PER_OBJECT = frozenset({"functools.cached_property", "django.utils.functional.cached_property"})
_ACTIVE_TENANT_CALLS = frozenset({"django_tenants.utils.get_tenant", "django_multitenant.utils.get_current_tenant"})
_SITES = "django.contrib.sites"


@register
class MemoizedTenantData(Rule):
    code = "TL701"
    name = "memoized-tenant-data"
    summary = "a memo kept for the whole process holds what one tenant's data or schema gave"
    what = (
        "A function memoized for the life of the process (`functools.lru_cache`, `functools.cache`, "
        "`cachetools.cached` and `cachetools.func.*`: a module function, a static or class method, or a method "
        "of a long-lived object), or a `cached_property` on a long-lived object (a middleware, built once per "
        "process; a class the module instantiates at its top level), whose code, itself or through the helpers "
        "it calls, reads a tenant app's model (`TENANT_APPS`), the active schema or tenant "
        "(`connection.schema_name`, `connection.tenant`, `get_tenant()`, django-multitenant's "
        "`get_current_tenant()`) or `Site.objects.get_current()` with the sites app per tenant, with no "
        "parameter that carries the tenant or the request, in a project with one schema per tenant."
    )
    why = (
        "The memo is keyed by the arguments, and the tenant is not one of them: the first tenant whose request "
        "computes it decides the answer every other tenant gets, until the process restarts. Tenant B's users "
        "see tenant A's languages, permissions or plan, and nothing fails (a platform fixed exactly this in 2026 "
        "by keying its memo by tenant; Django's own `Site.objects.get_current()` cache returns another tenant's "
        "site the same way)."
    )
    avoids = (
        "Silent for memos over shared data (models of apps only in SHARED_APPS, constants, files), for functions "
        "that take the schema or the tenant (`schema_name`, `tenant`, ...: the memo is keyed by it), for code "
        "that chooses its own schema (`schema_context(\"public\")`), for `cached_property` on objects made per "
        "request (views, serializers, forms, authenticators, model instances), for "
        "`Site.objects.get_current(request)` and a shared sites app, in projects without schemas per tenant, in "
        "test code."
    )
    fix_description = (
        "No automatic fix yet: keying the memo by the schema means a memoized helper that takes "
        "`connection.schema_name`, and every `cache_clear()` of the memo in the project then has to reach it. "
        "Write `@lru_cache def _languages(schema_name): ...` and `def languages(): return "
        "_languages(connection.schema_name)`, or keep the data in Django's cache under a key with the schema."
    )
    node_types = (ast.FunctionDef, ast.AsyncFunctionDef)
    triggers = ("cache", "cached")
    needs_tenant_apps = True
    example_filename = "languages.py"
    example_settings = SCHEMA_PER_TENANT_SETTINGS
    invalid = (
        """\
from functools import lru_cache

from orders.models import Currency


@lru_cache(maxsize=None)
def accepted_currencies():  # TL701
    return sorted(Currency.objects.filter(enabled=True).values_list("code", flat=True))
""",
    )
    valid = (
        """\
from functools import lru_cache

from django.db import connection

from orders.models import Currency


def accepted_currencies():
    return _accepted_currencies(connection.schema_name)


@lru_cache(maxsize=None)
def _accepted_currencies(schema_name):
    return sorted(Currency.objects.filter(enabled=True).values_list("code", flat=True))
""",
    )

    def visit(self, node, ctx) -> Iterator[Diagnostic]:
        memo = self._memo(node, ctx)
        if memo is None or takes_tenant(node) or _takes_request(node) or ctx.execution.at(node).place == TEST:
            return
        if any(isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) for parent in ctx.parents):
            return  # defined per call of the function around it: so is its memo
        owner = ctx.execution.owner_of(node)
        if owner is None and memo in _PER_OBJECT:
            return
        if owner is not None and not (_class_level(node) and memo not in _PER_OBJECT) and not _long_lived(
                owner, ctx):
            return  # a method's memo is keyed by `self`: a leak only where `self` serves every request
        reached = Reach(node, ctx, methods=class_methods(owner))
        if reached.chooses_schema():
            return
        read = _tenant_data(reached, ctx)
        if read is None:
            return
        shown = memo.rpartition(".")[2]
        holder = f"on '{owner.name}', one object for the whole process, " if memo in _PER_OBJECT else ""
        yield self.diagnostic(ctx.location(node), (
            f"`@{shown}` '{node.name}' {holder}keeps one answer for every tenant, and it reads {read}: the first "
            "tenant to compute it decides what every other tenant gets until the process restarts; key the memo "
            "by the schema (a memoized helper taking `connection.schema_name`) or cache it under a key with the "
            "schema"))

    @staticmethod
    def _memo(function, ctx) -> str | None:
        """The memo decorator on the function, by its dotted name."""
        for decorator in function.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            dotted = ctx.imports.qualify(target)
            if dotted in _MEMOS or dotted in _PER_OBJECT:
                return dotted
        return None


def _takes_request(function) -> bool:
    """Keyed by the request: one entry per request, never served to another (`Site.objects.get_current(request)`)."""
    return any(a.arg == "request" for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs))


def _class_level(function) -> bool:
    """A static or class method: its memo is keyed by the arguments alone, never by an instance."""
    return any(isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod") for d in function.decorator_list)


def _long_lived(owner: ast.ClassDef, ctx) -> bool:
    """One object serves every request: a middleware (Django builds it once), or a class the module
    instantiates at its top level (`registry = Registry()`)."""
    methods = class_methods(owner)
    if any(m.body and ctx.execution.at(m.body[0]).role == MIDDLEWARE for m in methods.values()):
        return True
    return any(isinstance(statement, (ast.Assign, ast.AnnAssign)) and isinstance(statement.value, ast.Call)
               and isinstance(statement.value.func, ast.Name) and statement.value.func.id == owner.name
               for statement in ctx.tree.body)


def _tenant_data(reached: Reach, ctx) -> str | None:
    """What of one tenant the reached code reads, as the message names it: a tenant model, the active
    schema or tenant, or the current site where sites are per tenant."""
    model = reached.tenant_model(ctx.tenancy)
    if model is not None:
        return f"{model} (a model of a tenant app)"
    sites_per_tenant = ctx.tenancy.app_kind(_SITES) == "tenant"
    for node, imports in reached.nodes():
        if isinstance(node, ast.Attribute) and node.attr in ("schema_name", "tenant") and isinstance(
                node.ctx, ast.Load) and imports.qualify(node.value) == DB_CONNECTION:
            return f"`connection.{node.attr}` (the active {'schema' if node.attr == 'schema_name' else 'tenant'})"
        if isinstance(node, ast.Call) and imports.qualify(node.func) in _ACTIVE_TENANT_CALLS:
            return f"`{ast.unparse(node.func)}()` (the active tenant)"
        if sites_per_tenant and isinstance(node, ast.Call) and not node.args and not node.keywords and isinstance(
                node.func, ast.Attribute) and node.func.attr == "get_current" and ast.unparse(
                node.func.value).endswith("Site.objects"):
            return "`Site.objects.get_current()` (the sites app is per tenant)"
    return None
