"""Exact findings of TL602 consumer-without-tenant: sync, async and JSON consumers on a stack that sets no tenant,
and the consumers, stacks and projects it leaves alone."""

from __future__ import annotations

import shutil

from lintutil import CASES, lint

PROJECT = CASES / "TL602" / "project"
TENANT_STACK = CASES / "TL602" / "tenant_stack"


def _message(consumer: str) -> str:
    return (f"consumer '{consumer}' uses `Order` (a model of a tenant app) and chooses no tenant, and its websocket "
            "stack (asgi.py: `AuthMiddlewareStack(URLRouter(...))`) sets none: Django's tenant middleware does not "
            "run for websockets, so its queries run on whatever schema the thread's connection was left on (the "
            "public one or another tenant's); add a middleware that puts the tenant in the scope and run the "
            "queries in `schema_context(self.scope[\"tenant\"].schema_name)`")


def test_consumers_that_use_tenant_models_on_a_stack_without_a_tenant():
    diagnostics, errors = lint(PROJECT, select=["TL602"], root=PROJECT)
    assert errors == []
    assert [(d.path.rpartition("/")[2], d.line, d.col, d.message) for d in diagnostics] == [
        ("consumers.py", 11, 0, _message("OrdersConsumer")),
        ("consumers.py", 16, 0, _message("CountConsumer")),  # through a database_sync_to_async method
        ("consumers.py", 26, 0, _message("CloseConsumer")),  # database_sync_to_async(helper)()
    ]


def test_silent_when_a_middleware_of_the_stack_sets_the_tenant():
    diagnostics, errors = lint(TENANT_STACK, select=["TL602"], root=TENANT_STACK)
    assert (diagnostics, errors) == ([], [])


def test_silent_when_the_websocket_stack_is_not_found(tmp_path):
    shutil.copytree(PROJECT, tmp_path / "project")
    (tmp_path / "project" / "project" / "asgi.py").unlink()
    diagnostics, errors = lint(tmp_path / "project", select=["TL602"], root=tmp_path / "project")
    assert (diagnostics, errors) == ([], [])
