"""TL608 command-without-tenant: a management command works on tenant tables with no tenant chosen."""

from __future__ import annotations

import ast
import os
import re
from typing import Iterator

from tenantlint.diagnostics import Diagnostic
from tenantlint.model.execution import COMMAND
from tenantlint.model.tenancy import app_label
from tenantlint.rules.base import Rule, register
from tenantlint.rules.context import in_tenancy_package
from tenantlint.trees import own_nodes

Function = ast.FunctionDef | ast.AsyncFunctionDef
# django-tenants' command bases run the command once per chosen tenant (or every tenant)
_TENANT_COMMAND_BASES = ("BaseTenantCommand", "TenantWrappedCommand", "InteractiveTenantOption")
# calls that choose the schema the command's work runs on (set_schema_to_public: the public one, on purpose)
_CHOOSING = frozenset({"schema_context", "tenant_context", "set_tenant", "set_schema", "set_schema_to_public",
                       "activate", "call_command"})
# a project helper that switches (`set_country(user)`, `use_tenant(code)`, `switch_schema(name)`)
_SWITCHING_HELPER = re.compile(r"^(set|use|switch|activate|enter)_\w*(tenant|schema|country|workspace)", re.IGNORECASE)
# the module says how it is run: through django-tenants' wrappers, or with the schema as an option
_RUN_WITH_A_TENANT = re.compile(r"\b(tenant_command|all_tenants_command)\b|['\"]--(schema|tenant)['\"=]")
_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})
_GET_MODEL = "get_model"


@register
class CommandWithoutTenant(Rule):
    code = "TL608"
    name = "command-without-tenant"
    summary = "a management command reads or writes a tenant app's models without choosing a tenant"
    what = (
        "A management command (a `BaseCommand` subclass, or a `Command` class under `management/commands/`) whose "
        "`handle`, or a method of the class it calls, uses the manager of a model from an app in `TENANT_APPS` "
        "(`Order.objects...`, `apps.get_model(\"orders\", \"Order\")...`), in a project with one schema per tenant, "
        "with no schema chosen anywhere on the way: no `schema_context`/`tenant_context`, no "
        "`connection.set_tenant`/`set_schema`, no loop that switches per tenant, and no django-tenants command base "
        "(`BaseTenantCommand`, `TenantWrappedCommand`, `InteractiveTenantOption`). Off by default: most such "
        "commands are meant to be run through `tenant_command`, which the code cannot show; on the development "
        "corpus 1 of 4 judged findings was right (precision 0.25; 3 wrong, 2 more unsure). Turn it on with `extend-select = [\"TL608\"]` where "
        "commands are run by cron or scripts as `manage.py <command>`."
    )
    why = (
        "`manage.py <command>` starts on the public schema. A model in TENANT_APPS has its table in every tenant's "
        "schema: in the public one there is none (the command fails), or, for an app in both lists, there is the "
        "public copy, and the command silently reads and changes that copy instead of a tenant's data. Run by "
        "cron or a deploy script, nobody sees it work on the wrong rows."
    )
    avoids = (
        "Silent for commands on django-tenants' command bases, for commands that choose a schema themselves "
        "(`schema_context`, `tenant_context`, `set_tenant`, `set_schema`, `set_schema_to_public`, a project helper "
        "named like `set_country`/`use_tenant`, or hand the work to `call_command`), for modules that say they run "
        "through `tenant_command`/`all_tenants_command` or take a `--schema`/`--tenant` option, for models of apps in SHARED_APPS only, in projects without schemas per tenant, "
        "in django-tenants' own code, in test code."
    )
    fix_description = (
        "No automatic fix: whether the command means one tenant, every tenant or the public schema is the "
        "author's choice. Run it with `manage.py tenant_command <command> --schema=<name>` or "
        "`manage.py all_tenants_command <command>`, derive it from `BaseTenantCommand`, or loop over the tenants "
        "with `with tenant_context(tenant):`."
    )
    default_enabled = False  # development corpus: 1 right, 3 wrong, 2 unsure (see docs/accuracy.md)
    node_types = (ast.ClassDef,)
    triggers = ("Command",)
    example_filename = "close_orders.py"
    example_settings = """\
SHARED_APPS = ["django_tenants", "customers"]
TENANT_APPS = ["orders"]
INSTALLED_APPS = SHARED_APPS + TENANT_APPS
TENANT_MODEL = "customers.Client"
"""
    invalid = (
        """\
from django.core.management.base import BaseCommand

from orders.models import Order


class Command(BaseCommand):  # TL608
    def handle(self, *args, **options):
        Order.objects.filter(open=True).update(open=False)
""",
    )
    valid = (
        """\
from django.core.management.base import BaseCommand
from django_tenants.utils import get_tenant_model, tenant_context

from orders.models import Order


class Command(BaseCommand):
    def handle(self, *args, **options):
        for tenant in get_tenant_model().objects.exclude(schema_name="public"):
            with tenant_context(tenant):
                Order.objects.filter(open=True).update(open=False)
""",
    )

    def visit(self, node: ast.ClassDef, ctx) -> Iterator[Diagnostic]:
        methods = {m.name: m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
        handle = methods.get("handle")
        if handle is None or not ctx.tenancy.tenant_apps or in_tenancy_package(ctx.module.name):
            return
        in_commands = "/management/commands/" in f"/{ctx.path}".replace("\\", "/") and node.name == "Command"
        if not in_commands and ctx.execution.at(handle.body[0]).role != COMMAND:
            return
        if any(base.rpartition(".")[2] in _TENANT_COMMAND_BASES for base in self._ancestors(node, ctx)):
            return
        reached = _reached(handle, methods)
        nodes = [n for method in reached for n in own_nodes(method.body)]
        if _RUN_WITH_A_TENANT.search(ctx.module.text) or any(isinstance(n, ast.Call) and (
                _called_name(n) in _CHOOSING or _SWITCHING_HELPER.match(_called_name(n) or "")) for n in nodes):
            return
        model = next(filter(None, (self._tenant_model(n, ctx) for n in nodes)), None)
        if model is None:
            return
        # Django runs `Command` of management/commands/<name>.py as `manage.py <name>`
        command = os.path.splitext(os.path.basename(ctx.path))[0] if node.name == "Command" else "<command>"
        message = (f"management command uses {model} (a model of a tenant app) and chooses no tenant: `manage.py "
                   f"{command}` runs on the public schema, where that table is missing or is the public copy; run it "
                   f"with `tenant_command {command} --schema=<name>` or `all_tenants_command {command}`, or switch per "
                   "tenant with `tenant_context(...)`")
        yield self.diagnostic(ctx.location(node), message)

    @staticmethod
    def _ancestors(node: ast.ClassDef, ctx) -> set[str]:
        found = set()
        for base in node.bases:
            dotted = ctx.imports.qualify(base)
            found |= set(ctx.project.ancestors(dotted, ctx.path)) if dotted else {ast.unparse(base)}
        return found

    @staticmethod
    def _tenant_model(node: ast.AST, ctx) -> str | None:
        """`Order` for `Order.objects` (a model imported from a tenant app) or for
        `apps.get_model("orders", "Order")` (a tenant app's label), else None."""
        tenancy = ctx.tenancy
        if isinstance(node, ast.Attribute) and node.attr in _MANAGERS:
            dotted = ctx.imports.qualify(node.value)
            if dotted and tenancy.app_kind(dotted.rpartition(".")[0]) == "tenant":
                return f"`{ast.unparse(node.value)}`"
        if isinstance(node, ast.Call) and _called_name(node) == _GET_MODEL and node.args and all(
                isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
            label, _, name = node.args[0].value.partition(".")
            if len(node.args) > 1:
                name = node.args[1].value
            tenant_labels = {app_label(app) for app in tenancy.tenant_apps}
            only_shared = {app_label(app) for app in tenancy.shared_apps} - tenant_labels
            if label in tenant_labels and label not in only_shared:
                return f"`{label}.{name}`"
        return None


def _reached(handle: Function, methods: dict[str, Function]) -> list[Function]:
    """`handle` and the methods of its class it calls on `self`, transitively."""
    reached, pending = [handle], [handle]
    while pending:
        for node in own_nodes(pending.pop().body):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "self"):
                method = methods.get(node.func.attr)
                if method is not None and method not in reached:
                    reached.append(method)
                    pending.append(method)
    return reached


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
