"""TL602 consumer-without-tenant: a Channels consumer uses tenant tables and nothing on its way chooses a tenant."""

from __future__ import annotations

import ast
import os
from typing import Iterator

from tenantlint.diagnostics import Diagnostic
from tenantlint.model.execution import CONSUMER
from tenantlint.model.summaries import Reach, class_methods, names_the_tenant
from tenantlint.rules.base import SCHEMA_PER_TENANT_SETTINGS, Rule, register
from tenantlint.rules.context import in_tenancy_package

_ROUTER = "ProtocolTypeRouter"
# a name in the stack, or a word in the project code behind it, that says the stack puts a tenant in the scope
_TENANT_WORDS = ("tenant", "schema")


@register
class ConsumerWithoutTenant(Rule):
    code = "TL602"
    name = "consumer-without-tenant"
    summary = "a Channels consumer reads or writes a tenant app's models and no middleware of its stack sets a tenant"
    what = (
        "A Channels consumer (`WebsocketConsumer`, `AsyncWebsocketConsumer`, the JSON consumers, any `channels` "
        "consumer base) whose methods, or what they call (`database_sync_to_async` helpers, methods of the class, "
        "functions of the project), use the manager of a model from an app in `TENANT_APPS`, with no schema chosen "
        "on the way, in a project with one schema per tenant whose websocket stack (the `\"websocket\"` entry of "
        "`ProtocolTypeRouter` in `asgi.py` or the routing module) has no middleware that sets the tenant."
    )
    why = (
        "Django's middleware, `TenantMainMiddleware` included, runs for HTTP requests only: a websocket connection "
        "goes through the ASGI stack of `ProtocolTypeRouter`, and nothing there chooses a schema unless the "
        "project adds a middleware that does. The consumer's queries then run on whatever schema the worker "
        "thread's connection was left on: the public one, or the tenant of the last HTTP request that thread "
        "served, so one tenant's socket reads and writes another tenant's rows."
    )
    avoids = (
        "Silent for consumers that only use the channel layer, that choose a schema themselves "
        "(`schema_context(self.scope[\"tenant\"].schema_name)`, `tenant_context`, `set_tenant`, a project helper "
        "named like `use_tenant`), for stacks with a middleware that names a tenant or schema or whose project code "
        "does, when no `ProtocolTypeRouter` with a websocket entry is found (the stack is unknown), for models of "
        "apps in SHARED_APPS only, in projects without schemas per tenant, in django-tenants' own code, in test code."
    )
    fix_description = (
        "No automatic fix: with no middleware that sets the tenant the scope holds no tenant to enter, and which "
        "tenant a socket belongs to (its host, a token claim, the user) is the project's choice. Add a middleware "
        "to the websocket stack that finds the tenant as `TenantMainMiddleware` does (from the `Host` header of "
        "the scope) and puts it in `scope[\"tenant\"]`, then run the consumer's database helpers in "
        "`schema_context(self.scope[\"tenant\"].schema_name)`."
    )
    node_types = (ast.ClassDef,)
    triggers = ("Consumer",)
    needs_tenant_apps = True
    example_filename = "consumers.py"
    example_settings = SCHEMA_PER_TENANT_SETTINGS
    example_files = {"asgi.py": """\
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

from orders.routing import websocket_urlpatterns

application = ProtocolTypeRouter({
    "http": get_asgi_application(),
    "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
})
"""}
    invalid = (
        """\
from channels.generic.websocket import JsonWebsocketConsumer

from orders.models import Order


class OrdersConsumer(JsonWebsocketConsumer):  # TL602
    def receive_json(self, content):
        Order.objects.filter(pk=content["order"]).update(open=False)
""",
    )
    valid = (
        """\
from channels.generic.websocket import JsonWebsocketConsumer
from django_tenants.utils import schema_context

from orders.models import Order


class OrdersConsumer(JsonWebsocketConsumer):
    def receive_json(self, content):
        with schema_context(self.scope["tenant"].schema_name):
            Order.objects.filter(pk=content["order"]).update(open=False)
""",
    )

    def __init__(self, options):
        super().__init__(options)
        self._stacks: tuple[object, str | None] = (None, None)  # the project text last asked, and its answer

    def visit(self, node: ast.ClassDef, ctx) -> Iterator[Diagnostic]:
        methods = class_methods(node)
        if not methods or not ctx.tenancy.tenant_apps or in_tenancy_package(ctx.module.name):
            return
        if not any(m.body and ctx.execution.at(m.body[0]).role == CONSUMER for m in methods.values()):
            return
        reached = [Reach(method, ctx, methods=methods) for method in methods.values()]
        if any(reach.chooses_schema() for reach in reached):
            return
        model = next(filter(None, (reach.tenant_model(ctx.tenancy) for reach in reached)), None)
        if model is None:
            return
        stack = self._stack_without_tenant(ctx)
        if stack is None:
            return
        yield self.diagnostic(ctx.location(node), (
            f"consumer '{node.name}' uses {model} (a model of a tenant app) and chooses no tenant, and its websocket "
            f"stack ({stack}) sets none: Django's tenant middleware does not run for websockets, so its queries run "
            "on whatever schema the thread's connection was left on (the public one or another tenant's); add a "
            "middleware that puts the tenant in the scope and run the queries in "
            "`schema_context(self.scope[\"tenant\"].schema_name)`"))

    def _stack_without_tenant(self, ctx) -> str | None:
        """`asgi.py: AuthMiddlewareStack(URLRouter(...))` when every websocket stack of the project is known
        and none sets a tenant; None when one does or none is found."""
        text = ctx.project_text
        known, answer = self._stacks
        if known is not text:
            answer = _stack_without_tenant(ctx, text.files_naming(_ROUTER))
            self._stacks = (text, answer)
        return answer


def _stack_without_tenant(ctx, paths: list[str]) -> str | None:
    found = None
    for path in paths:
        module = ctx.project.module_at(path)
        if module is None:
            continue
        for stack in _websocket_stacks(module):
            if _sets_tenant(stack, module, ctx):
                return None
            found = found or f"{os.path.basename(path)}: `{_shown(stack)}`"
    return found


def _websocket_stacks(module) -> Iterator[ast.expr]:
    """The `"websocket"` entries of the module's `ProtocolTypeRouter({...})` calls, a name resolved to
    the module-level value it is given."""
    assigned = {target.id: statement.value for statement in module.tree.body if isinstance(statement, ast.Assign)
                for target in statement.targets if isinstance(target, ast.Name)}
    for node in ast.walk(module.tree):
        if not (isinstance(node, ast.Call) and (module.imports.qualify(node.func) or "").endswith(_ROUTER)
                and node.args and isinstance(node.args[0], ast.Dict)):
            continue
        for key, value in zip(node.args[0].keys, node.args[0].values):
            if isinstance(key, ast.Constant) and key.value == "websocket":
                yield assigned.get(value.id, value) if isinstance(value, ast.Name) else value


def _sets_tenant(stack: ast.expr, module, ctx) -> bool:
    """A name in the stack that says tenant or schema, or one naming project code that does."""
    for node in ast.walk(stack):
        if not isinstance(node, (ast.Name, ast.Attribute)):
            continue
        name = node.id if isinstance(node, ast.Name) else node.attr
        if any(word in name.lower() for word in _TENANT_WORDS):
            return True
        dotted = module.imports.qualify(node)
        if dotted and "." in dotted and names_the_tenant(dotted, ctx, module.path):
            return True
    return False


def _shown(stack: ast.expr) -> str:
    """The stack as the message shows it: its calls, with the innermost arguments elided."""
    if isinstance(stack, ast.Call):
        inner = next((arg for arg in stack.args if isinstance(arg, ast.Call)), None)
        return f"{ast.unparse(stack.func)}({_shown(inner) if inner is not None else '...'})"
    return ast.unparse(stack)
