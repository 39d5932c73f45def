"""Exact findings of TL601 task-without-tenant: every task spelling, and the tasks that carry or choose a tenant."""

from __future__ import annotations

import shutil
import subprocess
import sys

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
        ("tasks.py", 77, 0, _message("close_lazily", "`Order`")),  # its helper imported in its body
        # a task that takes the schema as an optional parameter, queued without it
        ("views.py", 8, 4, _queued_message("reopen_order.delay")),
        ("views.py", 9, 4, _queued_message("reopen_order.apply_async")),
        ("views.py", 10, 4, _queued_message("reopen_order.apply_async")),
        ("views.py", 22, 4, _queued_message("reopen.delay")),  # imported in the view, under another name
    ]
    assert [d.fix is not None for d in diagnostics] == [True, True, True, False, True, True, True, True, True]


def _queued_message(call: str) -> str:
    return (f"`{call}(...)` queues task 'reopen_order' without its `schema_name`: the task then runs on the "
            "worker's own schema (the public one), not on this code's tenant; pass "
            "`schema_name=connection.schema_name`")


def test_the_fix_makes_the_task_take_the_schema_and_then_its_callers_pass_theirs(tmp_path):
    """One `--fix` run: the task gains the parameter (its old callers keep working), then the call sites
    that pass no schema, in another module, pass the caller's."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    done = subprocess.run([sys.executable, "-m", "tenantlint", "check", "--select", "TL601", "--fix",
                           "--unsafe-fixes", "--output-format", "concise", "."],
                          cwd=project, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # the task class is left for a person
    assert done.stdout.splitlines() == [f"orders/tasks.py:30:1: TL601 {_message('ArchiveOrders', '`Order`')}"]
    tasks = (project / "orders" / "tasks.py").read_text()
    assert tasks.startswith(
        "from celery import Task, shared_task\n"
        "from django.apps import apps\n"
        "from django.db import connection\n"
        "from django_tenants.utils import schema_context, tenant_context\n")
    assert ("@shared_task\n"
            "def close_order(order_id, *, schema_name=None):  # TL601\n"
            "    with schema_context(schema_name or connection.schema_name):\n"
            "        Order.objects.filter(pk=order_id).update(open=False)\n") in tasks
    assert ("@app.task(bind=True)\n"
            "def count_invoices(self, *, schema_name=None):  # TL601\n"
            "    with schema_context(schema_name or connection.schema_name):\n"
            "        return apps.get_model(\"billing\", \"Invoice\").objects.count()\n") in tasks
    assert (project / "orders" / "views.py").read_text() == (
        "from django.db import connection\n"
        "from django.http import HttpResponse\n\n"
        "from orders.tasks import close_order, reopen_everywhere, reopen_order\n\n\n"
        "def reopen(request, pk):\n"
        "    reopen_order.delay(pk, schema_name=connection.schema_name)  # TL601\n"
        "    reopen_order.apply_async(args=(pk,), kwargs={\"schema_name\": connection.schema_name})  # TL601\n"
        "    reopen_order.apply_async(args=(pk,), kwargs={\"schema_name\": connection.schema_name})  # TL601\n"
        "    reopen_order.delay(pk, schema_name=connection.schema_name)\n"
        "    reopen_order.delay(pk, connection.schema_name)\n"
        "    reopen_order.apply_async((pk,), {\"schema_name\": connection.schema_name})\n"
        "    close_order.delay(pk, schema_name=connection.schema_name)\n"
        "    reopen_everywhere.delay(pk)\n"
        "    return HttpResponse(status=202)\n\n\n"
        "def reopen_later(request, pk):\n"
        "    from orders.tasks import reopen_order as reopen\n\n"
        "    reopen.delay(pk, schema_name=connection.schema_name)  # TL601\n"
        "    return HttpResponse(status=202)\n")


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
