"""Exact findings of TL607 raw-search-path."""

from __future__ import annotations

from lintutil import CASES, lint

BEHIND = ("`SET search_path` switches this connection's schema behind django-tenants' back: the connection still "
          "names its tenant while the rest of the request, and the next request or task it serves, reads and writes "
          "another schema's tables")
REMEDY = "switch with `schema_context(...)` or `tenant_context(...)`, which django-tenants knows of"


def test_each_spelling_and_what_it_was_built_from():
    diagnostics, errors = lint(CASES / "TL607" / "spellings.py", select=["TL607"])
    assert errors == []
    assert [(d.line, d.col, d.message) for d in diagnostics] == [
        (17, 8, f"{BEHIND}; {REMEDY}"),
        (22, 4, f"{BEHIND}; built from `schema_name`, it is also an SQL injection sink; {REMEDY}"),
        (26, 4, f"{BEHIND}; built from `request.headers['X-Schema']`, it is also an SQL injection sink; {REMEDY}"),
        (30, 4, f"{BEHIND}; built from `tenant.schema_name`, it is also an SQL injection sink; {REMEDY}"),
        (34, 4, f"{BEHIND}; built from `schema_name`, it is also an SQL injection sink; {REMEDY}"),
        (39, 8, "`SET LOCAL search_path` built from `request.GET['schema']`, which nothing here validates or quotes: a "
                "schema name from the request chooses any schema, or runs any SQL (injection); check it as an "
                f"identifier, or {REMEDY}"),
    ]


def test_silent_without_schemas_per_tenant(tmp_path):
    (tmp_path / "settings.py").write_text('INSTALLED_APPS = ["django_multitenant"]\n')
    (tmp_path / "reports.py").write_text(
        "def switch(cursor):\n    cursor.execute('SET search_path TO public')\n")
    diagnostics, errors = lint(tmp_path, select=["TL607"], root=tmp_path)
    assert errors == [] and diagnostics == []
