"""TL601 task-without-tenant: a background task works on tenant tables with no tenant chosen."""

from __future__ import annotations

import ast
from typing import Iterator

from tenantlint.diagnostics import Diagnostic
from tenantlint.model.execution import TASK
from tenantlint.rules.base import Rule, register
from tenantlint.rules.context import Reach, class_methods, in_tenancy_package, takes_tenant

# tenant-schemas-celery: its CeleryApp sends the caller's schema with every task and its TenantTask enters it
_TENANT_AWARE_CELERY = "tenant_schemas_celery"


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
        "tenant-schemas-celery."
    )
    why = (
        "A Celery worker has no request and no tenant middleware: its connection is on the public schema. A model "
        "in TENANT_APPS has its table in every tenant's schema: in the public one there is none (the task fails), "
        "or, for an app in both lists, there is the public copy, and the task silently reads and changes that copy "
        "instead of the tenant's data that queued it. tenant-schemas-celery's `CeleryApp` sends the schema of the "
        "code that queues a task and runs the task in it; plain Celery does not."
    )
    avoids = (
        "Silent in projects that use tenant-schemas-celery (its `CeleryApp`, `TenantTask`), for tasks declared "
        "with a tenant-aware base (`base=TenantTask`), for tasks that take the schema or tenant as a parameter or "
        "choose one (a loop over the tenants entering `tenant_context` per tenant included), for models of apps "
        "in SHARED_APPS only, in projects without schemas per tenant, in django-tenants' own code, in test code."
    )
    fix_description = (
        "No automatic fix: the schema has to come from the code that queues the task (`task.delay(...)` in a "
        "request), and every such call site would have to pass it; where they cannot all be seen, a rewritten "
        "signature breaks the others. Use tenant-schemas-celery's `CeleryApp` (every task runs in the schema it "
        "was queued from), or give the task a `schema_name` parameter, pass `connection.schema_name` where it is "
        "queued, and run its body in `with schema_context(schema_name):`."
    )
    node_types = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
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
        self._aware: tuple[object, bool] = (None, False)  # the project text last asked, and its answer

    def visit(self, node, ctx) -> Iterator[Diagnostic]:
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
