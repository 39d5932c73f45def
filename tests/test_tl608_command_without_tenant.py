"""Exact findings of TL608 command-without-tenant, and its default."""

from __future__ import annotations

from lintutil import CASES, lint

from tenantlint.rules.context.tl608_command_without_tenant import CommandWithoutTenant

PROJECT = CASES / "TL608" / "project"


def test_the_message_names_the_model_and_the_commands_to_run_it_with():
    diagnostics, errors = lint(PROJECT, select=["TL608"], root=PROJECT)
    assert errors == []
    assert [(d.path.rpartition("/")[2], d.line, d.col, d.message) for d in diagnostics] == [
        ("close_orders.py", 6, 0, "management command uses `Order` (a model of a tenant app) and chooses no tenant: "
         "`manage.py close_orders` runs on the public schema, where that table is missing or is the public copy; run "
         "it with `tenant_command close_orders --schema=<name>` or `all_tenants_command close_orders`, or switch per "
         "tenant with `tenant_context(...)`"),
        ("count_invoices.py", 5, 0, "management command uses `billing.Invoice` (a model of a tenant app) and chooses no "
         "tenant: `manage.py count_invoices` runs on the public schema, where that table is missing or is the public "
         "copy; run it with `tenant_command count_invoices --schema=<name>` or `all_tenants_command count_invoices`, "
         "or switch per tenant with `tenant_context(...)`"),
    ]


def test_off_by_default():
    assert not CommandWithoutTenant.default_enabled
    diagnostics, _ = lint(PROJECT, root=PROJECT)
    assert [d for d in diagnostics if d.code == "TL608"] == []
