"""TL701 memoized-tenant-data: a memo kept for the whole process holds what one tenant's data gave."""

from __future__ import annotations

import ast
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Edit
from tenantlint.model.execution import MIDDLEWARE, TEST
from tenantlint.model.known import TENANT_CACHE_KEY_FUNCTIONS
from tenantlint.model.settings_values import Str
from tenantlint.model.summaries import Reach, class_methods, is_storage, takes_tenant
from tenantlint.rules.base import SCHEMA_PER_TENANT_SETTINGS, Rule, register
from tenantlint.rules.edits.imports import imported_name
from tenantlint.rules.edits.statements import module_names

# memo decorators whose store lives as long as the function (keyed by the arguments only)
_MEMOS = frozenset({
    "functools.lru_cache", "functools.cache", "cachetools.cached", "cachetools.func.lru_cache",
    "cachetools.func.ttl_cache", "cachetools.func.lfu_cache", "cachetools.func.fifo_cache",
    "cachetools.func.rr_cache", "cachetools.func.mru_cache",
})
# memo decorators whose store lives as long as the object: a leak only where the object outlives a request
_PER_OBJECT = frozenset({"functools.cached_property", "django.utils.functional.cached_property"})
# django-memoize: kept in Django's default cache, keyed by the function and its arguments (per tenant only
# where the cache's KEY_FUNCTION adds the tenant)
_IN_DJANGO_CACHE = frozenset({"memoize.memoize", "memoize.Memoizer.memoize"})
_SITES = "django.contrib.sites"
# what a memoized function offers besides being called, kept on the function the fix leaves in its place
_MEMO_ATTRIBUTES = ("cache_clear", "cache_info", "cache_parameters")


@register
class MemoizedTenantData(Rule):
    code = "TL701"
    name = "memoized-tenant-data"
    summary = "a memo kept for the whole process holds what one tenant's data or schema gave"
    what = (
        "A function memoized for the life of the process (`functools.lru_cache`, `functools.cache`, "
        "`cachetools.cached` and `cachetools.func.*`, django-memoize's `memoize` where the default cache has no "
        "tenant `KEY_FUNCTION`: a module function, a static or class method, or a method "
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
        "request (views, serializers, forms, authenticators, model instances) and on storages (TL703's), for "
        "`Site.objects.get_current(request)` and a shared sites app, in projects without schemas per tenant, in "
        "test code."
    )
    fix_description = (
        "The memo is keyed by the schema, and every caller keeps calling the same name: the memoized function "
        "becomes `_name(schema_name, ...)`, and `name(...)` a plain function in its place that calls it with "
        "`connection.schema_name` first; where the project calls `name.cache_clear()` (or `cache_info`), those "
        "are kept on `name`, reaching the memo. Unsafe: the memo then holds one entry per tenant (a bounded "
        "`maxsize` is shared among them) and is computed once per tenant. Offered for module functions with "
        "plain parameters (no `*args`, `**kwargs`, keyword-only or positional-only ones), not async; for "
        "methods and `cached_property`, keep the data per tenant by hand, or in Django's cache under a key with "
        "the schema."
    )
    fix_safety = "unsafe"
    node_types = (ast.FunctionDef, ast.AsyncFunctionDef)
    triggers = ("cache", "memoize")
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
        if memo in _IN_DJANGO_CACHE and _tenant_keyed_cache(ctx):
            return
        if memo is None or takes_tenant(node) or _takes_request(node) or ctx.execution.at(node).place == TEST:
            return
        if any(isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) for parent in ctx.parents):
            return  # defined per call of the function around it: so is its memo
        owner = ctx.execution.owner_of(node)
        if owner is None and memo in _PER_OBJECT or owner is not None and is_storage(owner, ctx):
            return  # a storage's cached place is TL703's
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
        fix = self._keyed_by_schema(node, ctx) if owner is None and memo in _MEMOS else None
        yield self.diagnostic(ctx.location(node), (
            f"`@{shown}` '{node.name}' {holder}keeps one answer for every tenant, and it reads {read}: the first "
            "tenant to compute it decides what every other tenant gets until the process restarts; key the memo "
            "by the schema (a memoized helper taking `connection.schema_name`) or cache it under a key with the "
            "schema"), fix=fix)

    def _keyed_by_schema(self, function, ctx):
        """`name` becomes a plain function calling the memoized `_name(connection.schema_name, ...)`."""
        args = function.args
        if isinstance(function, ast.AsyncFunctionDef) or args.vararg or args.kwarg or args.kwonlyargs \
                or args.posonlyargs:
            return None
        name, inner = function.name, f"_{function.name}"
        lines = ctx.lines
        header = lines[function.lineno - 1]
        opening = f"def {name}("
        at = header.find(opening)
        if inner in module_names(ctx.tree) or at < 0 or header[:at].strip():
            return None
        connection, imports = imported_name("django.db.connection", None, ctx)
        if connection is None:
            return None
        parameters = [a.arg for a in args.args]
        signature = ast.unparse(function.args)  # defaults and annotations as written, on one line
        first = min([function.lineno, *(d.lineno for d in function.decorator_list)])
        forwarded = ", ".join([f"{connection}.schema_name", *parameters])
        wrapper = f"def {name}({signature}):\n    return {inner}({forwarded})\n\n\n"
        after = at + len(opening)
        renamed = f"{inner}(schema_name{', ' if parameters else ''}"
        edits = [*imports, Edit(first, 0, first, 0, wrapper),
                 Edit(function.lineno, at + 4, function.lineno, after, renamed)]
        text = ctx.project_text
        kept = [attribute for attribute in _MEMO_ATTRIBUTES
                if any(f"{name}.{attribute}" in text.text(path) for path in text.files_naming(attribute))]
        if kept:
            end = function.end_lineno
            edits.append(Edit(end + 1, 0, end + 1, 0, "".join(
                f"\n\n{name}.{attribute} = {inner}.{attribute}" for attribute in kept) + "\n"))
        return self.fix(f"Key the memo by the schema: `{inner}({connection}.schema_name, ...)` memoized, "
                        f"`{name}` calling it", edits)

    @staticmethod
    def _memo(function, ctx) -> str | None:
        """The memo decorator on the function, by its dotted name."""
        for decorator in function.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            dotted = ctx.imports.qualify(target)
            if dotted in _MEMOS or dotted in _PER_OBJECT or dotted in _IN_DJANGO_CACHE:
                return dotted
        return None


def _tenant_keyed_cache(ctx) -> bool:
    """Every settings module governing the code gives the default cache a tenant KEY_FUNCTION."""
    views = ctx.governing_settings
    functions = TENANT_CACHE_KEY_FUNCTIONS | set(ctx.options.tenant_key_functions)
    found = [view.lookup("CACHES", "default", "KEY_FUNCTION") for view in views]
    return bool(views) and all(isinstance(value, Str) and value.value in functions for value in found)


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
    read = reached.active_tenant()
    if read is not None:
        return read
    if ctx.tenancy.app_kind(_SITES) == "tenant":
        for node, _ in reached.nodes():
            if isinstance(node, ast.Call) and not node.args and not node.keywords and isinstance(
                    node.func, ast.Attribute) and node.func.attr == "get_current" and ast.unparse(
                    node.func.value).endswith("Site.objects"):
                return "`Site.objects.get_current()` (the sites app is per tenant)"
    return None
