"""TL608 command-without-tenant: a management command works on tenant tables with no tenant chosen."""

from __future__ import annotations

import ast
import os
import re
from typing import Iterator

from tenantlint.diagnostics import Diagnostic
from tenantlint.model.execution import COMMAND
from tenantlint.model.summaries import Reach, class_methods
from tenantlint.rules.base import SCHEMA_PER_TENANT_SETTINGS, Rule, register
from tenantlint.rules.context import in_tenancy_package

# django-tenants' command bases run the command once per chosen tenant (or every tenant)
_TENANT_COMMAND_BASES = ("BaseTenantCommand", "TenantWrappedCommand", "InteractiveTenantOption")
# the module says how it is run: through django-tenants' wrappers, or with the schema as an option
_RUN_WITH_A_TENANT = re.compile(r"\b(tenant_command|all_tenants_command)\b|['\"]--(schema|tenant)['\"=]")


@register
class CommandWithoutTenant(Rule):
    code = "TL608"
    name = "command-without-tenant"
    summary = "a management command reads or writes a tenant app's models without choosing a tenant"
    what = (
        "A management command (a `BaseCommand` subclass, or a `Command` class under `management/commands/`) whose "
        "`handle`, or what it calls (methods of the class, functions of the project), uses the manager of a model "
        "from an app in `TENANT_APPS` "
        "(`Order.objects...`, `apps.get_model(\"orders\", \"Order\")...`), in a project with one schema per tenant, "
        "with no schema chosen anywhere on the way: no `schema_context`/`tenant_context`, no "
        "`connection.set_tenant`/`set_schema`, no loop that switches per tenant, and no django-tenants command base "
        "(`BaseTenantCommand`, `TenantWrappedCommand`, `InteractiveTenantOption`). Off by default: most such "
        "commands are meant to be run through `tenant_command`, which the code cannot show; on the development "
        "corpus 1 of 8 judged findings was right (precision 0.12; 7 wrong, 2 more unsure). Turn it on with "
        "`extend-select = [\"TL608\"]` where commands are run by cron or scripts as `manage.py <command>`."
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
    default_enabled = False  # development corpus: 1 right, 7 wrong, 2 unsure (see docs/accuracy.md)
    node_types = (ast.ClassDef,)
    triggers = ("Command",)
    needs_tenant_apps = True
    example_filename = "close_orders.py"
    example_settings = SCHEMA_PER_TENANT_SETTINGS
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
        handle = class_methods(node).get("handle")
        if handle is None or not ctx.tenancy.tenant_apps or in_tenancy_package(ctx.module.name):
            return
        in_commands = "/management/commands/" in f"/{ctx.path}".replace("\\", "/") and node.name == "Command"
        if not in_commands and ctx.execution.at(handle.body[0]).role != COMMAND:
            return
        if any(base.rpartition(".")[2] in _TENANT_COMMAND_BASES for base in self._ancestors(node, ctx)):
            return
        reached = Reach(handle, ctx, methods=class_methods(node))
        if _RUN_WITH_A_TENANT.search(ctx.module.text) or reached.chooses_schema():
            return
        model = reached.tenant_model(ctx.tenancy)
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
