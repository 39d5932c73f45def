"""TL601 task-without-tenant: a background task works on tenant tables with no tenant chosen."""

from __future__ import annotations

import ast
import os
import re
from typing import Iterator

from tenantlint.diagnostics import Diagnostic
from tenantlint.model.execution import TASK, TEST
from tenantlint.rules.base import Rule, register
from tenantlint.rules.context import Reach, class_methods, function_named, in_tenancy_package, project_function, \
    takes_tenant

# tenant-schemas-celery: its CeleryApp sends the caller's schema with every task and its TenantTask enters it
_TENANT_AWARE_CELERY = "tenant_schemas_celery"
# a beat scheduler that sends each entry once per tenant (tenant-schemas-celery's, django-tenants-celery-beat's)
_TENANT_AWARE_SCHEDULER = re.compile(r"\bTenantAware\w*Scheduler\b|\bgenerate_beat_schedule\b")
# where a beat scheduler is chosen besides the Python code: the files that start the processes
_LAUNCH_FILES = re.compile(r"^(Procfile.*|(docker-)?compose.*\.ya?ml|Makefile|.*\.sh|supervisord.*\.conf|.*\.service)$")
_LAUNCH_FILE_BYTES = 1 << 20


@register
class TaskWithoutTenant(Rule):
    code = "TL601"
    name = "task-without-tenant"
    summary = "a background task reads or writes a tenant app's models without choosing a tenant"
    what = (
        "A Celery task (`@shared_task`, `@app.task`, or the `run` method of a `celery.Task` subclass) that uses the "
        "manager of a model from an app in `TENANT_APPS` (`Order.objects...`, `apps.get_model(\"orders\", "
        "\"Order\")...`), itself or through the helpers it calls (same module or imported from the project), in a "
        "project with one schema per tenant, with no schema chosen on the way (`schema_context`, `tenant_context`, "
        "`with tenant:`, `connection.set_tenant`/`set_schema`, a project helper named like `use_tenant`) and no "
        "parameter that carries the tenant (`schema_name`, `tenant_id`, ...), while the project does not use "
        "tenant-schemas-celery. Where it does, a beat schedule entry of such a task (`CELERY_BEAT_SCHEDULE`, "
        "`app.conf.beat_schedule`, `add_periodic_task`) sent to no chosen schema, while no tenant-aware beat "
        "scheduler is named in the project's code or in the files at its root that start its processes."
    )
    why = (
        "A Celery worker has no request and no tenant middleware: its connection is on the public schema. A model "
        "in TENANT_APPS has its table in every tenant's schema: in the public one there is none (the task fails), "
        "or, for an app in both lists, there is the public copy, and the task silently reads and changes that copy "
        "instead of the tenant's data that queued it. tenant-schemas-celery's `CeleryApp` sends the schema of the "
        "code that queues a task and runs the task in it; plain Celery does not."
    )
    avoids = (
        "Silent for the tasks of projects that use tenant-schemas-celery (its `CeleryApp` and `TenantTask` run a "
        "task in the schema it was queued from), for tasks declared with a tenant-aware base (`base=TenantTask`), "
        "for tasks that take the schema or tenant as a parameter or choose one (a loop over the tenants entering "
        "`tenant_context` per tenant included), for beat entries with `tenant_schemas` or a `_schema_name` header "
        "or under a tenant-aware scheduler, for tasks of libraries, for models of apps in SHARED_APPS only, in "
        "projects without schemas per tenant, in django-tenants' own code, in test code."
    )
    fix_description = (
        "No automatic fix: the schema has to come from the code that queues the task (`task.delay(...)` in a "
        "request), and every such call site would have to pass it; where they cannot all be seen, a rewritten "
        "signature breaks the others. Use tenant-schemas-celery's `CeleryApp` (every task runs in the schema it "
        "was queued from), or give the task a `schema_name` parameter, pass `connection.schema_name` where it is "
        "queued, and run its body in `with schema_context(schema_name):`."
    )
    node_types = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Dict, ast.Call)
    triggers = ("task", "Task")
    example_filename = "tasks.py"
    example_settings = """\
SHARED_APPS = ["django_tenants", "customers"]
TENANT_APPS = ["orders"]
INSTALLED_APPS = SHARED_APPS + TENANT_APPS
TENANT_MODEL = "customers.Client"
"""
    invalid = (
        """\
from celery import shared_task

from orders.models import Order


@shared_task
def close_order(order_id):  # TL601
    Order.objects.filter(pk=order_id).update(open=False)
""",
    )
    valid = (
        """\
from celery import shared_task
from django_tenants.utils import schema_context

from orders.models import Order


@shared_task
def close_order(schema_name, order_id):
    with schema_context(schema_name):
        Order.objects.filter(pk=order_id).update(open=False)
""",
    )

    def __init__(self, options):
        super().__init__(options)
        # the project text last asked, and its answers: tenant-aware Celery, a tenant-aware beat scheduler
        self._aware: tuple[object, bool] = (None, False)
        self._aware_scheduler: tuple[object, bool] = (None, False)

    def visit(self, node, ctx) -> Iterator[Diagnostic]:
        if isinstance(node, (ast.Dict, ast.Call)):
            yield from self._beat_entry(node, ctx)
        else:
            yield from self._task(node, ctx)

    def _beat_entry(self, node, ctx) -> Iterator[Diagnostic]:
        """A beat schedule entry of such a task in a tenant-aware Celery project: beat queues it from no
        tenant, so tenant-schemas-celery runs it on the public schema. (With plain Celery the task itself
        is reported.)"""
        scheduled = _scheduled_task(node, ctx)
        if scheduled is None or not ctx.tenancy.tenant_apps or in_tenancy_package(ctx.module.name):
            return
        if ctx.execution.at(node).place == TEST or not self._tenant_aware_project(ctx):
            return
        if self._tenant_aware_scheduler(ctx):
            return
        where, (function, module, methods), shown = scheduled
        if takes_tenant(function):
            return
        reached = Reach(function, ctx, methods=methods, module=module)
        if reached.chooses_schema():
            return
        model = reached.tenant_model(ctx.tenancy)
        if model is None:
            return
        yield self.diagnostic(ctx.location(where), (
            f"beat schedules {shown}, which uses {model} (a model of a tenant app) with no tenant chosen: beat "
            "queues it from no tenant, so tenant-schemas-celery runs it on the public schema, where that table is "
            "missing or is the public copy; run beat with tenant-schemas-celery's `TenantAwareScheduler` (each "
            "entry sent to every tenant, or to its `tenant_schemas`), or loop over the tenants in the task with "
            "`tenant_context(tenant)`"))

    def _task(self, node, ctx) -> Iterator[Diagnostic]:
        if isinstance(node, ast.ClassDef):
            function = next((m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                             and m.name == "run"), None)
            owner = node
        else:
            function, owner = node, None
            if ctx.execution.owner_of(node) is not None:
                return  # a method: the class is visited (a task's `run`)
        if function is None or not function.body or ctx.execution.at(function.body[0]).role != TASK:
            return
        if not ctx.tenancy.tenant_apps or in_tenancy_package(ctx.module.name) or takes_tenant(function):
            return
        if self._tenant_aware_base(node, ctx) or self._tenant_aware_project(ctx):
            return
        reached = Reach(function, ctx, methods=class_methods(owner))
        if reached.chooses_schema():
            return
        model = reached.tenant_model(ctx.tenancy)
        if model is None:
            return
        name = node.name
        message = (f"task '{name}' uses {model} (a model of a tenant app) with no tenant chosen and no schema or "
                   "tenant parameter: a Celery worker runs it on the public schema, where that table is missing or "
                   "is the public copy; pass the schema name and run the work in `schema_context(schema_name)`, or "
                   "use tenant-schemas-celery's `CeleryApp`")
        yield self.diagnostic(ctx.location(node), message)

    @staticmethod
    def _tenant_aware_base(node, ctx) -> bool:
        """`@shared_task(base=TenantTask)`, or a task class deriving from one."""
        if isinstance(node, ast.ClassDef):
            bases = set()
            for base in node.bases:
                dotted = ctx.imports.qualify(base)
                bases |= set(ctx.project.ancestors(dotted, ctx.path)) if dotted else {ast.unparse(base)}
            return any("Tenant" in base.rpartition(".")[2] for base in bases)
        return any(isinstance(d, ast.Call) and any(k.arg == "base" and "Tenant" in ast.unparse(k.value)
                                                   for k in d.keywords) for d in node.decorator_list)

    def _tenant_aware_project(self, ctx) -> bool:
        text = ctx.project_text
        known, aware = self._aware
        if known is not text:
            aware = bool(text.files_naming(_TENANT_AWARE_CELERY)) or _TENANT_AWARE_CELERY in ctx.module.text
            self._aware = (text, aware)
        return aware

    def _tenant_aware_scheduler(self, ctx) -> bool:
        """The project's code, or a file at its root that starts its processes, names a tenant-aware
        beat scheduler (`celery beat -S tenant_schemas_celery.scheduler.TenantAwareScheduler`)."""
        text = ctx.project_text
        known, aware = self._aware_scheduler
        if known is not text:
            aware = bool(_TENANT_AWARE_SCHEDULER.search(ctx.module.text)) or any(
                _TENANT_AWARE_SCHEDULER.search(text.text(path)) for path in text.python_files) or any(
                _TENANT_AWARE_SCHEDULER.search(launch) for launch in _launch_files(ctx.config.root))
            self._aware_scheduler = (text, aware)
        return aware


def _scheduled_task(node, ctx):
    """For a beat schedule entry (`{"task": "orders.tasks.close", "schedule": ...}` in settings or code, or
    `app.add_periodic_task(schedule, close.s())`) of a project task that is not sent to a chosen schema:
    (the node to report, (function, module, methods), the task as the message shows it); else None."""
    if isinstance(node, ast.Dict):
        keys = {key.value: value for key, value in zip(node.keys, node.values)
                if isinstance(key, ast.Constant) and isinstance(key.value, str)}
        task = keys.get("task")
        if "schedule" not in keys or "tenant_schemas" in keys or not (
                isinstance(task, ast.Constant) and isinstance(task.value, str)):
            return None
        if "_schema_name" in ast.unparse(node):
            return None
        found = project_function(task.value, ctx)
        return (task, found, f"'{task.value}'") if found is not None else None
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr == "add_periodic_task" and len(node.args) > 1):
        return None
    signature = node.args[1]
    if not (isinstance(signature, ast.Call) and isinstance(signature.func, ast.Attribute)
            and signature.func.attr in ("s", "si", "signature")):
        return None
    if "_schema_name" in ast.unparse(node):
        return None
    found = function_named(signature.func.value, ctx.module, {}, ctx)
    return (signature, found, f"'{ast.unparse(signature.func.value)}'") if found is not None else None


def _launch_files(root: str) -> Iterator[str]:
    """The text of the files at the project's root, and one folder down, that start its processes."""
    for folder in (root, *(entry.path for entry in _entries(root) if entry.is_dir() and not entry.name.startswith("."))):
        for entry in _entries(folder):
            if entry.is_file() and _LAUNCH_FILES.match(entry.name):
                try:
                    with open(entry.path, "rb") as handle:
                        yield handle.read(_LAUNCH_FILE_BYTES).decode("utf-8", "replace")
                except OSError:
                    continue


def _entries(folder: str) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []
