"""Exact findings of TL701 memoized-tenant-data: every memo spelling, and the memos keyed by the tenant, over
shared data, per request or per call."""

from __future__ import annotations

import shutil

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
        ("memos.py", 17, 0, _message("lru_cache", "accepted_currencies", model)),
        ("memos.py", 22, 0, _message("cache", "schema_banner", "`connection.schema_name` (the active schema)")),
        ("memos.py", 27, 0, _message("ttl_cache", "home_site", "`Site` (a model of a tenant app)")),  # sites per tenant
        ("memos.py", 32, 0, _message("cached", "currency_count", model)),  # through a helper
        ("memos.py", 43, 4, _message("lru_cache", "default_currency", model)),  # a static method
        ("memos.py", 64, 4, _message("cached_property", "currencies", model,
                                     "on 'PlanMiddleware', one object for the whole process, ")),
        ("memos.py", 70, 4, _message("cached_property", "current", "`connection.tenant` (the active tenant)",
                                     "on 'Registry', one object for the whole process, ")),
        ("memos.py", 108, 0, _message("memoize", "currency_codes", model)),  # django-memoize, no tenant key
    ]


def test_silent_without_schemas_per_tenant(tmp_path):
    (tmp_path / "settings.py").write_text('INSTALLED_APPS = ["orders"]\n')
    (tmp_path / "memos.py").write_text((PROJECT / "orders" / "memos.py").read_text())
    diagnostics, errors = lint(tmp_path, select=["TL701"], root=tmp_path)
    assert (diagnostics, errors) == ([], [])


def test_django_memoize_is_per_tenant_where_the_cache_keys_are(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    settings = project / "project" / "settings.py"
    settings.write_text(settings.read_text() + 'CACHES = {"default": {"KEY_FUNCTION": "django_tenants.cache.make_key"}}\n')
    diagnostics, errors = lint(project, select=["TL701"], root=project)
    assert errors == []
    assert "currency_codes" not in " ".join(d.message for d in diagnostics) and len(diagnostics) == 7
