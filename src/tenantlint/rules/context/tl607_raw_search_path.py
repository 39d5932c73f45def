"""TL607 raw-search-path: SQL that switches the schema behind django-tenants' back."""

from __future__ import annotations

import ast
import re
from typing import Iterator

from tenantlint.diagnostics import Diagnostic
from tenantlint.rules.base import Rule, register
from tenantlint.rules.context import in_tenancy_package
from tenantlint.rules.edits.statements import bindings

Function = ast.FunctionDef | ast.AsyncFunctionDef
_SET_SEARCH_PATH = re.compile(r"\bSET\s+(?P<scope>SESSION\s+|LOCAL\s+)?search_path\b|\bset_config\s*\(\s*'search_path'",
                              re.IGNORECASE)
_LOCAL = re.compile(r"\bSET\s+LOCAL\b|set_config\s*\(\s*'search_path'\s*,[^,]*,\s*true", re.IGNORECASE)
# a value handed through one of these was checked or quoted as an identifier before it reached the SQL
_CHECKED = re.compile(r"valid|quote|safe|escape|sanitize|clean", re.IGNORECASE)


@register
class RawSearchPath(Rule):
    code = "TL607"
    name = "raw-search-path"
    summary = "`SET search_path` run from Python, or built by interpolation, in a schema-per-tenant project"
    what = (
        "A `cursor.execute(...)` (or `executemany`) whose SQL sets the search path: `SET search_path ...`, "
        "`SET SESSION search_path ...`, `SELECT set_config('search_path', ...)`, as a literal or built with an "
        "f-string, `%`, `.format` or `+`, in a project with one schema per tenant (or whose tenancy is not known). `SET LOCAL search_path` (and "
        "`set_config(..., true)`), which ends with its transaction, is reported only when built by interpolation "
        "from a value not passed through a validating or quoting function."
    )
    why = (
        "django-tenants keeps the active schema on the connection (`connection.schema_name`, `connection.tenant`) "
        "and sets the search path itself, remembering what it set. A raw `SET search_path` changes the schema "
        "without telling it: the connection still says one tenant while every later query on it (the rest of "
        "the request, the next request or task the connection serves) reads and writes another's tables, "
        "silently where the table exists in both. Built from a value, the statement is also an SQL injection "
        "sink: a schema name from a header, a URL or a token chooses any schema, or runs any SQL."
    )
    avoids = (
        "Silent for `SET LOCAL search_path` with a literal value, or with a value from a validating or quoting "
        "function (`_validate_identifier(name)`, `quote_ident`): it reverts at the end of the transaction; for "
        "psycopg's `sql.SQL(...).format(sql.Identifier(...))` (not a string the rule can read); in django-tenants' "
        "own code; in projects without schemas per tenant; in test code."
    )
    fix_description = (
        "No automatic fix: which tenant the code means, and where its work ends, is the author's. Use "
        "`with schema_context(name):` or `with tenant_context(tenant):`, which switch through django-tenants "
        "and switch back on every path."
    )
    node_types = (ast.Call,)
    triggers = ("search_path",)
    example_filename = "reports.py"
    invalid = (
        """\
from django.db import connection


def tenant_report(schema_name):
    with connection.cursor() as cursor:
        cursor.execute(f"SET search_path TO {schema_name}")  # TL607
        cursor.execute("SELECT count(*) FROM orders_order")
        return cursor.fetchone()[0]
""",
    )
    valid = (
        """\
from django_tenants.utils import schema_context

from orders.models import Order


def tenant_report(schema_name):
    with schema_context(schema_name):
        return Order.objects.count()
""",
        """\
from django.db import connection, transaction


def isolated(schema_name):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL search_path = public")
        cursor.execute("SELECT 1")
""",
    )

    def visit(self, node: ast.Call, ctx) -> Iterator[Diagnostic]:
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr in ("execute", "executemany") and node.args):
            return
        text, parts = _sql(node.args[0], ctx)
        if text is None or not _SET_SEARCH_PATH.search(text):
            return
        if not ctx.tenancy.ids_repeat_across_tenants or in_tenancy_package(ctx.module.name):
            return
        function = next((p for p in reversed(ctx.parents) if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef))),
                        None)
        unchecked = [p for p in parts if not _checked(p, function)]
        remedy = "switch with `schema_context(...)` or `tenant_context(...)`, which django-tenants knows of"
        if _LOCAL.search(text):
            if not unchecked:
                return
            message = (f"`SET LOCAL search_path` built from {_named(unchecked)}, which nothing here validates or "
                       "quotes: a schema name from the request chooses any schema, or runs any SQL (injection); "
                       "check it as an identifier, or " + remedy)
        else:
            built = (f"; built from {_named(unchecked)}, it is also an SQL injection sink" if unchecked else "")
            message = ("`SET search_path` switches this connection's schema behind django-tenants' back: the connection "
                       "still names its tenant while the rest of the request, and the next request or task it "
                       f"serves, reads and writes another schema's tables{built}; {remedy}")
        yield self.diagnostic(ctx.location(node), message)


def _sql(node: ast.expr, ctx) -> tuple[str | None, list[ast.expr]]:
    """The literal text of an SQL string, and the values interpolated into it."""
    if isinstance(node, ast.Constant):
        return (node.value, []) if isinstance(node.value, str) else (None, [])
    if isinstance(node, ast.JoinedStr):
        text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        return text, [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        left, left_parts = _sql(node.left, ctx)
        if isinstance(node.op, ast.Mod):
            values = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
            return left, [*left_parts, *values]
        right, right_parts = _sql(node.right, ctx)
        if left is None and right is None:
            return None, []
        return (left or "{}") + (right or "{}"), [*left_parts, *right_parts,
                                                  *([node.left] if left is None else []),
                                                  *([node.right] if right is None else [])]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)):
        return node.func.value.value, [*node.args, *(k.value for k in node.keywords)]
    return None, []


def _checked(value: ast.expr, function: Function | None) -> bool:
    """The value comes from a validating or quoting call: directly, or through a name assigned once from one."""
    if isinstance(value, ast.Constant):
        return True
    if isinstance(value, ast.Name) and function is not None:
        bound = bindings(function, value.id)
        if len(bound) == 1 and bound[0] is not None:
            value = bound[0]
    return isinstance(value, ast.Call) and bool(_CHECKED.search(ast.unparse(value.func)))


def _named(parts: list[ast.expr]) -> str:
    return ", ".join(f"`{ast.unparse(p)}`" for p in parts)
