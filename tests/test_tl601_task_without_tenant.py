"""Exact findings of TL601 task-without-tenant: every task spelling, and the tasks that carry or choose a tenant."""

from __future__ import annotations

import shutil

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


def _beat_message(task: str, model: str) -> str:
    return (f"beat schedules '{task}', which uses {model} (a model of a tenant app) with no tenant chosen: beat "
            "queues it from no tenant, so tenant-schemas-celery runs it on the public schema, where that table is "
            "missing or is the public copy; run beat with tenant-schemas-celery's `TenantAwareScheduler` (each "
            "entry sent to every tenant, or to its `tenant_schemas`), or loop over the tenants in the task with "
            "`tenant_context(tenant)`")


def test_with_tenant_schemas_celery_only_the_beat_entries_sent_from_no_tenant():
    """Its CeleryApp runs a task in the schema it was queued from: the tasks are fine, but beat queues
    from none (settings, `app.conf.beat_schedule`, `add_periodic_task`)."""
    diagnostics, errors = lint(AWARE_PROJECT, select=["TL601"], root=AWARE_PROJECT)
    assert errors == []
    assert [(d.path.rpartition("/")[2], d.line, d.col, d.message) for d in diagnostics] == [
        ("celery.py", 18, 31, _beat_message("orders.tasks.count_invoices", "`billing.Invoice`")),
        ("celery.py", 29, 36, _beat_message("close_everything", "`Order`")),
        ("settings.py", 7, 29, _beat_message("orders.tasks.close_order", "`Order`")),
    ]


def test_beat_entries_silent_when_beat_runs_a_tenant_aware_scheduler(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(AWARE_PROJECT, project)
    (project / "Procfile").write_text(
        "beat: celery -A project beat -S tenant_schemas_celery.scheduler.TenantAwareScheduler\n")
    diagnostics, errors = lint(project, select=["TL601"], root=project)
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
