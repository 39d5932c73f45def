"""Exact findings of TL601 task-without-tenant: every task spelling, and the tasks that carry or choose a tenant."""

from __future__ import annotations

from lintutil import CASES, lint

PROJECT = CASES / "TL601" / "project"
AWARE_PROJECT = CASES / "TL601" / "aware_project"


def _message(task: str, model: str) -> str:
    return (f"task '{task}' uses {model} (a model of a tenant app) with no tenant chosen and no schema or tenant "
            "parameter: a Celery worker runs it on the public schema, where that table is missing or is the public "
            "copy; pass the schema name and run the work in `schema_context(schema_name)`, or use "
            "tenant-schemas-celery's `CeleryApp`")


def test_shared_task_app_task_class_task_and_a_task_through_an_imported_helper():
    diagnostics, errors = lint(PROJECT, select=["TL601"], root=PROJECT)
    assert errors == []
    assert [(d.path.rpartition("/")[2], d.line, d.col, d.message) for d in diagnostics] == [
        ("tasks.py", 12, 0, _message("close_order", "`Order`")),
        ("tasks.py", 17, 0, _message("count_invoices", "`billing.Invoice`")),
        ("tasks.py", 22, 0, _message("close_everything", "`Order`")),
        ("tasks.py", 26, 0, _message("ArchiveOrders", "`Order`")),
    ]


def test_silent_where_the_project_runs_tasks_through_tenant_schemas_celery():
    diagnostics, errors = lint(AWARE_PROJECT, select=["TL601"], root=AWARE_PROJECT)
    assert (diagnostics, errors) == ([], [])


def test_silent_in_a_project_without_schemas_per_tenant(tmp_path):
    (tmp_path / "manage.py").write_text('import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")\n')
    (tmp_path / "settings.py").write_text('INSTALLED_APPS = ["orders"]\n')
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "__init__.py").write_text("")
    (tmp_path / "orders" / "models.py").write_text((PROJECT / "orders" / "models.py").read_text())
    (tmp_path / "orders" / "tasks.py").write_text((PROJECT / "orders" / "tasks.py").read_text())
    diagnostics, errors = lint(tmp_path, select=["TL601"], root=tmp_path)
    assert [d for d in diagnostics if d.code == "TL601"] == []
