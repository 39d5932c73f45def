"""TL604 thread-hop-without-tenant: work handed to another thread uses tenant tables with no tenant chosen there."""

from __future__ import annotations

import ast
from typing import Iterator

from tenantlint.diagnostics import Diagnostic
from tenantlint.model.execution import TEST
from tenantlint.model.known import SYNC_TO_ASYNC
from tenantlint.model.summaries import class_methods, function_named, imports_around, unguarded_tenant_model
from tenantlint.rules.base import SCHEMA_PER_TENANT_SETTINGS, Rule, register
from tenantlint.rules.context import in_tenancy_package

_THREADS = frozenset({"threading.Thread", "threading.Timer"})
_TO_THREAD = "asyncio.to_thread"
_PARTIAL = frozenset({"functools.partial"})


@register
class ThreadHopWithoutTenant(Rule):
    code = "TL604"
    name = "thread-hop-without-tenant"
    summary = "a function run on another thread uses a tenant app's models without choosing a tenant there"
    what = (
        "A function handed to another thread (`threading.Thread(target=f)`, `threading.Timer(t, f)`, an "
        "executor's `submit(f, ...)`, `loop.run_in_executor(executor, f, ...)`, `asyncio.to_thread(f, ...)`, "
        "`sync_to_async(f, thread_sensitive=False)`, also through `functools.partial(f, ...)`) that uses the "
        "manager of a model from an app in `TENANT_APPS`, itself or through the helpers it calls, in a project "
        "with one schema per tenant, with no schema chosen in it and no schema or tenant passed to it."
    )
    why = (
        "django-tenants keeps the schema on the database connection, and Django gives every thread its own "
        "connection: a new thread's connection starts on the public schema, whatever tenant the request that "
        "started the thread was on. A model in TENANT_APPS has no table there (the work fails), or, for an app in "
        "both lists, the public copy, and the thread silently reads and writes that copy instead of the tenant's "
        "rows. `sync_to_async` with `thread_sensitive=True` (its default) runs the function on the request's own "
        "thread and keeps its schema; `thread_sensitive=False` does not."
    )
    avoids = (
        "Silent when the function takes the schema or the tenant (`schema_name`, `tenant`, ...) or chooses a schema "
        "itself (`schema_context`, `tenant_context`, `set_tenant`, a project helper named like `use_tenant`), when "
        "the call passes something naming the schema or tenant, for `sync_to_async` left thread-sensitive and "
        "`database_sync_to_async`, for functions the rule cannot see (a library's, a lambda), for models of apps in "
        "SHARED_APPS only, in projects without schemas per tenant, in django-tenants' own code, in test code."
    )
    fix_description = (
        "No automatic fix: the thread needs the schema of the code that starts it, and which one that is depends "
        "on where the call runs. Pass `connection.schema_name` along (`Thread(target=f, args=(connection.schema_name, "
        "...))`) and run the function's body in `with schema_context(schema_name):`."
    )
    node_types = (ast.Call,)
    triggers = ("Thread(", "Timer(", ".submit(", "run_in_executor(", "to_thread(", "thread_sensitive")
    needs_tenant_apps = True
    example_filename = "views.py"
    example_settings = SCHEMA_PER_TENANT_SETTINGS
    invalid = (
        """\
import threading

from django.http import HttpResponse

from orders.models import Order


def close_all():
    Order.objects.filter(open=True).update(open=False)


def close_orders(request):
    threading.Thread(target=close_all).start()  # TL604
    return HttpResponse(status=202)
""",
    )
    valid = (
        """\
import threading

from django.db import connection
from django.http import HttpResponse
from django_tenants.utils import schema_context

from orders.models import Order


def close_all(schema_name):
    with schema_context(schema_name):
        Order.objects.filter(open=True).update(open=False)


def close_orders(request):
    threading.Thread(target=close_all, args=(connection.schema_name,)).start()
    return HttpResponse(status=202)
""",
    )

    def visit(self, node: ast.Call, ctx) -> Iterator[Diagnostic]:
        handed = self._handed(node, ctx)
        if handed is None or not ctx.tenancy.tenant_apps or in_tenancy_package(ctx.module.name):
            return
        if ctx.execution.at(node).place == TEST or _passes_tenant(node, handed):
            return
        handed = _unwrap_partial(handed, ctx)
        found = function_named(handed, ctx.module, class_methods(ctx.execution.around(node)[1]), ctx,
                               imports_around(node, ctx))
        if found is None:
            return
        function = found[0]
        model = unguarded_tenant_model(found, ctx)
        if model is None:
            return
        call = ast.unparse(node.func)
        yield self.diagnostic(ctx.location(node), (
            f"`{call}` runs '{function.name}' on another thread, and it uses {model} (a model of a tenant app) with "
            "no tenant chosen: each thread has its own database connection, which starts on the public schema, "
            "where that table is missing or is the public copy; pass `connection.schema_name` to it and run its "
            "work in `schema_context(schema_name)`"))

    @staticmethod
    def _handed(call: ast.Call, ctx) -> ast.expr | None:
        """The function a call runs on another thread, or None for any other call."""
        qualified = ctx.imports.qualify(call.func)
        keywords = {k.arg: k.value for k in call.keywords}
        if qualified in _THREADS:  # Thread(group, target, ...), Timer(interval, function, ...)
            handed = keywords.get("target" if qualified.endswith("Thread") else "function")
            return handed or (call.args[1] if len(call.args) > 1 else None)
        if qualified == _TO_THREAD:
            return call.args[0] if call.args else None
        if qualified in SYNC_TO_ASYNC:
            sensitive = keywords.get("thread_sensitive")
            unsafe = isinstance(sensitive, ast.Constant) and sensitive.value is False
            return call.args[0] if unsafe and call.args and qualified.endswith(".sync_to_async") else None
        if isinstance(call.func, ast.Attribute):
            if call.func.attr == "submit" and call.args:
                return call.args[0]
            if call.func.attr == "run_in_executor" and len(call.args) > 1:
                return call.args[1]
        return None


def _passes_tenant(call: ast.Call, handed: ast.expr) -> bool:
    """The call hands the thread something naming the schema or the tenant (`connection.schema_name`),
    besides the function itself (also as `partial(f, schema_name)`)."""
    passed = [value for value in (*call.args, *(k.value for k in call.keywords)) if value is not handed]
    if isinstance(handed, ast.Call):
        passed += [*handed.args[1:], *(k.value for k in handed.keywords)]
    return any(word in ast.unparse(value).lower() for value in passed for word in ("schema", "tenant"))


def _unwrap_partial(handed: ast.expr, ctx) -> ast.expr:
    """`f` for `functools.partial(f, ...)`."""
    if isinstance(handed, ast.Call) and ctx.imports.qualify(handed.func) in _PARTIAL and handed.args:
        return handed.args[0]
    return handed

