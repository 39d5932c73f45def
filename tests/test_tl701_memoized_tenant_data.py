"""Exact findings of TL701 memoized-tenant-data: every memo spelling, and the memos keyed by the tenant, over
shared data, per request or per call."""

from __future__ import annotations

from lintutil import CASES, lint

PROJECT = CASES / "TL701" / "project"


def _message(memo: str, name: str, read: str, holder: str = "") -> str:
    return (f"`@{memo}` '{name}' {holder}keeps one answer for every tenant, and it reads {read}: the first tenant to "
            "compute it decides what every other tenant gets until the process restarts; key the memo by the schema "
            "(a memoized helper taking `connection.schema_name`) or cache it under a key with the schema")


def test_memos_kept_for_the_process_over_tenant_data():
    diagnostics, errors = lint(PROJECT, select=["TL701"], root=PROJECT)
    assert errors == []
    model = "`Currency` (a model of a tenant app)"
    assert [(d.path.rpartition("/")[2], d.line, d.col, d.message) for d in diagnostics] == [
        ("memos.py", 16, 0, _message("lru_cache", "accepted_currencies", model)),
        ("memos.py", 21, 0, _message("cache", "schema_banner", "`connection.schema_name` (the active schema)")),
        ("memos.py", 26, 0, _message("ttl_cache", "home_site", "`Site` (a model of a tenant app)")),  # sites per tenant
        ("memos.py", 31, 0, _message("cached", "currency_count", model)),  # through a helper
        ("memos.py", 42, 4, _message("lru_cache", "default_currency", model)),  # a static method
        ("memos.py", 63, 4, _message("cached_property", "currencies", model,
                                     "on 'PlanMiddleware', one object for the whole process, ")),
        ("memos.py", 69, 4, _message("cached_property", "current", "`connection.tenant` (the active tenant)",
                                     "on 'Registry', one object for the whole process, ")),
    ]


def test_silent_without_schemas_per_tenant(tmp_path):
    (tmp_path / "settings.py").write_text('INSTALLED_APPS = ["orders"]\n')
    (tmp_path / "memos.py").write_text((PROJECT / "orders" / "memos.py").read_text())
    diagnostics, errors = lint(tmp_path, select=["TL701"], root=tmp_path)
    assert (diagnostics, errors) == ([], [])
