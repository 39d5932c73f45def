"""TL303 tenant-middleware-order: the tenant middleware missing, or not first."""

from __future__ import annotations

import ast
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Severity
from tenantlint.known import AUTH_MIDDLEWARE, SESSION_MIDDLEWARE, derives_from, short, tenant_middleware_names
from tenantlint.rules.base import Rule, register
from tenantlint.settings_facts import Seq, Str


@register
class TenantMiddlewareOrder(Rule):
    code = "TL303"
    name = "tenant-middleware-order"
    summary = "tenant middleware missing from a tenant project, or not first in MIDDLEWARE"
    what = (
        "In a tenant project (`django_tenants` in `INSTALLED_APPS`/`SHARED_APPS`, or "
        "`TENANT_MODEL` set), a `MIDDLEWARE` setting that has no tenant middleware "
        "(`TenantMainMiddleware`, `TenantSubfolderMiddleware` or a project subclass, resolved "
        "through imports), or that lists anything before it."
    )
    why = (
        "The tenant middleware sets the database schema for the request. Middleware that runs "
        "before it runs on the schema the previous request left on the connection: a session "
        "or authentication middleware there loads tenant B's session and user while serving "
        "tenant A's host. django-tenants documents its middleware as first for this reason; "
        "even harmless-looking security, CORS or profiling middleware can touch the database "
        "or cache before the schema is set. Without it, every request runs on the public schema."
    )
    avoids = (
        "Silent when the project is not a tenant project, when `MIDDLEWARE` cannot be read "
        "fully, when the tenant middleware is commented out (TL302 reports that), and for a "
        "tenant middleware subclass whose own code chooses the tenant from `request.user`, "
        "which must come after authentication."
    )
    fix_description = "Move the tenant middleware to the front of MIDDLEWARE, its comments travelling with it."
    options = ("tenant-middleware",)
    severity = Severity.ERROR
    settings_rule = True
    example_filename = "settings.py"
    invalid = (
        """\
INSTALLED_APPS = ["django_tenants", "django.contrib.auth"]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django_tenants.middleware.main.TenantMainMiddleware",  # TL303
]
""",
        """\
TENANT_MODEL = "customers.Client"
MIDDLEWARE = [  # TL303
    "django.middleware.security.SecurityMiddleware",
]
""",
    )
    valid = (
        """\
INSTALLED_APPS = ["django_tenants", "django.contrib.auth"]
MIDDLEWARE = [
    "django_tenants.middleware.main.TenantMainMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
]
""",
        """\
INSTALLED_APPS = ["django.contrib.auth"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
""",
    )

    def check_settings(self, view, ctx) -> Iterator[Diagnostic]:
        middleware = view.get("MIDDLEWARE")
        tenant_project = view.is_tenant_project()
        if not isinstance(middleware, Seq) or tenant_project is False:
            return
        tenant_names = tenant_middleware_names(self.options)
        items = middleware.items
        position = next(
            (i for i, item in enumerate(items) if isinstance(item, Str) and derives_from(ctx.project, item.value, tenant_names, item.loc.path)),
            None,
        )
        if position is None:
            if tenant_project and middleware.complete and all(isinstance(i, Str) for i in items) and not self._commented_out(middleware, ctx):
                yield self.diagnostic(
                    middleware.loc,
                    "MIDDLEWARE has no tenant middleware although this is a django-tenants project: "
                    "every request runs on the public schema; add 'django_tenants.middleware.main.TenantMainMiddleware' first",
                )
            return
        tenant = items[position]
        before = [item for item in items[:position] if isinstance(item, Str)]
        if not before:
            return
        project = ctx.project
        if self._reads_request_user(tenant, ctx):
            if any(derives_from(project, item.value, AUTH_MIDDLEWARE, item.loc.path) for item in before):
                return
            yield self.diagnostic(
                tenant.loc,
                f"'{short(tenant.value)}' chooses the tenant from request.user, so it must come after "
                "'AuthenticationMiddleware', which is not before it",
            )
            return
        stateful = [item for item in before if derives_from(project, item.value, SESSION_MIDDLEWARE | AUTH_MIDDLEWARE, item.loc.path)]
        if stateful:
            reason = (f"'{short(stateful[0].value)}' runs before it and loads the session or user "
                      "on the previous request's schema")
        else:
            reason = f"'{short(before[0].value)}' runs before it, on the previous request's schema"
        yield self.diagnostic(tenant.loc, f"tenant middleware '{short(tenant.value)}' must be first in MIDDLEWARE: {reason}")

    def _reads_request_user(self, tenant: Str, ctx) -> bool:
        info = ctx.project.resolve_class(tenant.value, tenant.loc.path)
        if info is None:
            return False
        return any(
            isinstance(node, ast.Attribute) and node.attr == "user" and isinstance(node.value, ast.Name) and node.value.id == "request"
            for node in ast.walk(info.node)
        )

    def _commented_out(self, middleware: Seq, ctx) -> bool:
        tenant_names = tenant_middleware_names(self.options)
        return any(derives_from(ctx.project, dotted, tenant_names, location.path)
                   for dotted, location in ctx.settings.commented_entries(middleware))
