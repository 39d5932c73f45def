"""TL302 disabled-middleware: a middleware entry commented out inside MIDDLEWARE."""

from __future__ import annotations

import ast
import difflib
import re
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Edit, Fix, Location, Severity
from tenantlint.model.known import derives_from, tenant_middleware_names
from tenantlint.model.middleware_shape import middleware_problem
from tenantlint.model.settings_values import COMMENTED_ENTRY, Seq
from tenantlint.rules.base import Rule, register


@register
class DisabledMiddleware(Rule):
    code = "TL302"
    name = "disabled-middleware"
    summary = "a middleware entry commented out inside MIDDLEWARE, or MIDDLEWARE misspelt"
    what = (
        "A comment line inside the `MIDDLEWARE` list or tuple whose text is a quoted dotted "
        "path, i.e. a middleware someone switched off (comments are read with `tokenize`, "
        "since `ast` drops them). Also a module-level setting whose name is a near miss of "
        "`MIDDLEWARE` (`MMIDDLEWARE`, `MIDDLEWARES`), which Django silently ignores."
    )
    why = (
        "Tenant, session and permission middleware are what bind a request to its tenant and "
        "its user. Commented out 'temporarily for testing', they stay out: requests then run "
        "on whatever schema and user context the previous request left on the connection or "
        "thread, which is how one tenant's user ends up acting in another tenant. A misspelt "
        "setting name disables the whole list without an error."
    )
    avoids = (
        "Silent for a commented tenant middleware when an active subclass of it is present or "
        "when `django_tenants` itself is not installed; for an entry that is commented out in "
        "one place but active in the final list; for prose comments and trailing comments; for "
        "middleware that binds no request to a tenant or a user (development tools such as the debug "
        "toolbar, Silk and profilers, WhiteNoise, GZip, clickjacking headers, CORS, locale, messages). "
        "An entry of the project's own package that names a module or class the project no longer "
        "defines is reported at info severity as a stale line, with no fix: uncommenting it would stop "
        "Django from starting."
    )
    fix_description = (
        "Uncomment the entry, keeping its trailing comment (the plan's Issue 4), and add the commas "
        "its neighbours need (two adjacent strings would silently concatenate). A misspelt name is "
        "renamed to `MIDDLEWARE` when no `MIDDLEWARE` is set. No fix for an entry of the project's own "
        "code that Django could not build or call (often why it was commented out): a class whose "
        "`__init__` does not take `get_response`, whose `__call__` does not take the request, with "
        "neither and no base class providing them, or a `MiddlewareMixin` hook taking other arguments "
        "than Django passes; a factory function that does not take `get_response`, or returns one that "
        "does not take the request. Put back, it would fail every request with a TypeError; the "
        "message names what does not fit. Entries of installed packages are not judged."
    )
    fix_safety = "unsafe"
    severity = Severity.WARNING
    settings_rule = True
    example_filename = "settings.py"
    invalid = (
        """\
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # "django.contrib.auth.middleware.AuthenticationMiddleware",  # TL302
]
""",
        """\
MMIDDLEWARE = [  # TL302
    "django.middleware.security.SecurityMiddleware",
]
""",
    )
    valid = (
        """\
MIDDLEWARE = [
    # Security first: it sets the HSTS header.
    "django.middleware.security.SecurityMiddleware",
]
""",
    )

    def check_settings(self, view, ctx) -> Iterator[Diagnostic]:
        middleware = view.get("MIDDLEWARE")
        if isinstance(middleware, Seq):
            yield from self._commented_entries(view, middleware, ctx)
        yield from self._misspellings(view)

    def _commented_entries(self, view, middleware: Seq, ctx) -> Iterator[Diagnostic]:
        active = [item.value for item in middleware.strings()]
        tenant_names = tenant_middleware_names(self.options)
        tenant_active = any(derives_from(ctx.project, i.value, tenant_names, i.loc.path) for i in middleware.strings())
        tenants_installed = view.app_installed("django_tenants")
        for dotted, location in ctx.settings.commented_entries(middleware):
            if dotted in active or _BINDS_NOTHING.search(dotted):
                continue
            if derives_from(ctx.project, dotted, tenant_names, location.path) and (tenant_active or tenants_installed is False):
                continue
            if _names_nothing(dotted, ctx.project, location.path):
                yield self.diagnostic(
                    location, f"middleware '{dotted}' commented out of MIDDLEWARE names nothing the project still "
                    "defines: a stale line to delete, not to uncomment (Django would fail to start)", Severity.INFO)
                continue
            problem = middleware_problem(ctx.project, dotted, location.path)
            if problem is not None:
                yield self.diagnostic(
                    location, f"middleware '{dotted}' is commented out of MIDDLEWARE, so it never runs, and it looks "
                    f"broken: {problem}; put back as it is, every request would fail with a TypeError, so no fix is "
                    "offered: repair it first")
                continue
            yield self.diagnostic(location, f"middleware '{dotted}' is commented out of MIDDLEWARE, so it never runs",
                                  fix=self._uncomment(location, ctx))

    def _uncomment(self, location: Location, ctx) -> Fix | None:
        """Drop the `#` before the quoted entry; add the commas the neighbours need to stay separate."""
        lines = ctx.settings.source_lines(location.path)
        line = lines[location.line - 1]
        match = COMMENTED_ENTRY.match(line, location.col)
        if match is None:
            return None
        edits = [Edit(location.line, location.col, location.line, match.start("quote"), "")]
        if not re.match(r"\s*,", line[match.end():]):
            edits.append(Edit(location.line, match.end(), location.line, match.end(), ","))
        before = ctx.settings.code_token_before(location.path, (location.line, location.col))
        if before is not None and before.string not in ("[", "(", ","):
            # without it, "a.A" "b.B" would silently concatenate into one string
            edits.append(Edit(*before.end, *before.end, ","))
        return self.fix(f"Uncomment '{match.group('path')}'", edits)

    def _misspellings(self, view) -> Iterator[Diagnostic]:
        names = {a.name for a in view.assignments}
        for assignment in view.assignments:
            name = assignment.name
            if name == "MIDDLEWARE" or not name.isupper():
                continue
            if name == "MIDDLEWARE_CLASSES" and "MIDDLEWARE" not in names:
                yield self.diagnostic(
                    assignment.loc,
                    "MIDDLEWARE_CLASSES is ignored since Django 2.0 and no MIDDLEWARE is set, so none of these middleware run",
                )
            elif name != "MIDDLEWARE_CLASSES" and difflib.SequenceMatcher(None, name, "MIDDLEWARE").ratio() >= 0.85:
                loc = assignment.loc
                rename = None if "MIDDLEWARE" in names else self.fix(
                    f"Rename '{name}' to 'MIDDLEWARE'", [Edit(loc.line, loc.col, loc.end_line, loc.end_col, "MIDDLEWARE")])
                yield self.diagnostic(
                    loc,
                    f"'{name}' is not a Django setting (did you mean 'MIDDLEWARE'?); Django ignores it, so none of these middleware run",
                    fix=rename,
                )


# middleware that binds no request to a tenant or a user: development tools, static files, response
# headers and compression; switched off, they leak nothing
_BINDS_NOTHING = re.compile(
    r"debug|toolbar|silk|profil|querycount|livereload|browser_reload|whitenoise|gzip|clickjacking|xframe"
    r"|corsheaders|\.locale\.|CommonMiddleware|contrib\.messages|staticfiles", re.IGNORECASE)


def _names_nothing(dotted: str, project, near: str) -> bool:
    """The entry's package is the project's own, but its module or the name in it is gone."""
    module_name, _, name = dotted.rpartition(".")
    if not module_name or project.find_module_path(dotted.split(".")[0], near) is None:
        return False  # not the project's: an installed package the tool cannot see
    path = project.find_module_path(module_name, near)
    module = project.module_at(path) if path else None
    if module is None:
        return path is None
    defined = set(module.imports.bindings) | set(module.classes)
    for statement in module.tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.add(statement.name)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            defined.update(n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(statement, ast.ImportFrom) and any(alias.name == "*" for alias in statement.names):
            return False
        elif not isinstance(statement, (ast.Expr, ast.ClassDef, ast.Import, ast.ImportFrom)):
            return False  # defined under a condition or a loop: not sure
    return name not in defined
