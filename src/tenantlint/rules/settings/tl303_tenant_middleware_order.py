"""TL303 tenant-middleware-order: the tenant middleware missing, or not first."""

from __future__ import annotations

import ast
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Fix, Severity
from tenantlint.model.known import (
    AUTH_MIDDLEWARE,
    OWN_TABLE_MIDDLEWARE,
    SESSION_MIDDLEWARE,
    derives_from,
    short,
    tenant_middleware_names,
)
from tenantlint.model.settings_values import COMMENTED_ENTRY, Seq, Str
from tenantlint.rules.base import Rule, register
from tenantlint.rules.edits.settings_lines import (
    entry_alone_on_line,
    has_comma_after,
    indent_of,
    insert_before_line,
    line_ending,
    replace_lines,
)
from tenantlint.trees import walk


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
        "fully, for a middleware that uses only its own app's tables (Silk) placed before it when the "
        "project installs that app only in `SHARED_APPS` (its tables live in public, reached from any "
        "schema), when the tenant middleware is commented out (TL302 reports that), and for a "
        "tenant middleware subclass whose own code chooses the tenant from `request.user`, "
        "which must come after authentication."
    )
    fix_description = (
        "Move the tenant middleware to the front of MIDDLEWARE, its trailing comment and the comment "
        "lines just above it travelling with it; where it is missing, add "
        "`django_tenants.middleware.main.TenantMainMiddleware` first. Offered when the list has one "
        "entry per line and the entries involved are in one literal."
    )
    fix_safety = "unsafe"
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
                    fix=self._insert_first(middleware, ctx),
                )
            return
        tenant = items[position]
        project = ctx.project
        tenancy = ctx.tenancy_under(view)
        before = [item for item in items[:position] if isinstance(item, Str) and not self._touches_public_only(item, tenancy)]
        if not before:
            return
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
        yield self.diagnostic(tenant.loc, f"tenant middleware '{short(tenant.value)}' must be first in MIDDLEWARE: {reason}",
                              fix=self._move_first(middleware, position, ctx))

    @staticmethod
    def _touches_public_only(item: Str, tenancy) -> bool:
        """A middleware that uses only its own app's tables, that app installed only in SHARED_APPS."""
        return item.value in OWN_TABLE_MIDDLEWARE and tenancy.app_kind(item.value) == "shared"

    def _first_line_of_list(self, middleware: Seq, ctx) -> tuple[Str, list[str]] | None:
        """The first entry, when it opens the first literal on a line of its own (the fixable layout)."""
        first = middleware.items[0] if middleware.items else None
        if not isinstance(first, Str) or not middleware.literals:
            return None
        path, literal = middleware.literals[0]
        elements = getattr(literal, "elts", [])
        if not elements or (elements[0].lineno, elements[0].col_offset) != (first.loc.line, first.loc.col) or first.loc.path != path:
            return None
        lines = ctx.settings.source_lines(path)
        return (first, lines) if entry_alone_on_line(lines, first.loc) else None

    def _move_first(self, middleware: Seq, position: int, ctx) -> Fix | None:
        """Cut the tenant entry's line (and the comment lines just above it) and put them first."""
        opening = self._first_line_of_list(middleware, ctx)
        tenant = middleware.items[position]
        if opening is None or tenant.loc.path != opening[0].loc.path:
            return None
        first, lines = opening
        if not entry_alone_on_line(lines, tenant.loc) or any(
            not isinstance(item, Str) or item.loc.path != tenant.loc.path for item in middleware.items[:position]
        ):
            return None
        top = tenant.loc.line
        while top - 1 > first.loc.line and lines[top - 2].strip().startswith("#") and not COMMENTED_ENTRY.match(lines[top - 2].strip()):
            top -= 1
        moved = lines[top - 1 : tenant.loc.line]
        indent = indent_of(lines[first.loc.line - 1])
        moved = [indent + line.lstrip(" \t") for line in moved]
        if not has_comma_after(lines, tenant.loc):
            last = moved[-1]
            entry_end = len(indent) + (tenant.loc.end_col - tenant.loc.col)
            moved[-1] = last[:entry_end] + "," + last[entry_end:]
            if not moved[-1].endswith(("\n", "\r")):
                moved[-1] += line_ending(lines[first.loc.line - 1])
        return self.fix(
            f"Move '{short(tenant.value)}' to the front of MIDDLEWARE",
            [insert_before_line(first.loc.line, "".join(moved)), replace_lines(top, tenant.loc.line, "")],
        )

    def _insert_first(self, middleware: Seq, ctx) -> Fix | None:
        opening = self._first_line_of_list(middleware, ctx)
        if opening is None:
            return None
        first, lines = opening
        line = lines[first.loc.line - 1]
        quote = line[first.loc.col] if line[first.loc.col] in "'\"" else '"'
        entry = f"{indent_of(line)}{quote}django_tenants.middleware.main.TenantMainMiddleware{quote},{line_ending(line)}"
        return self.fix("Add 'TenantMainMiddleware' at the front of MIDDLEWARE", [insert_before_line(first.loc.line, entry)])

    def _reads_request_user(self, tenant: Str, ctx) -> bool:
        info = ctx.project.resolve_class(tenant.value, tenant.loc.path)
        if info is None:
            return False
        return any(
            isinstance(node, ast.Attribute) and node.attr == "user" and isinstance(node.value, ast.Name) and node.value.id == "request"
            for node in walk(info.node)
        )

    def _commented_out(self, middleware: Seq, ctx) -> bool:
        tenant_names = tenant_middleware_names(self.options)
        return any(derives_from(ctx.project, dotted, tenant_names, location.path)
                   for dotted, location in ctx.settings.commented_entries(middleware))
