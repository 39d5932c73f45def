"""TL606 schema-switch-not-restored: the connection is switched to a tenant's schema and left there."""

from __future__ import annotations

import ast
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Edit
from tenantlint.model.execution import COMMAND, REQUEST, TASK
from tenantlint.model.known import DB_CONNECTION, DB_CONNECTIONS, TENANT_GUARDS
from tenantlint.model.tenancy import TENANT_MODEL_NAMES
from tenantlint.rules.base import Rule, register
from tenantlint.rules.context import in_tenancy_package
from tenantlint.rules.edits.imports import imported_name
from tenantlint.rules.edits.statements import alone_on_lines, bindings, is_docstring, spans_lines, starts_line
from tenantlint.trees import per_tree, walk

Function = ast.FunctionDef | ast.AsyncFunctionDef
_RESTORES = frozenset({"set_tenant", "set_schema", "set_schema_to_public", "deactivate"})
# django-tenants' `TenantMixin.activate()` is `connection.set_tenant(self)`; its `deactivate()`, back to public
_ACTIVATE = "activate"
# a context manager's entry switches and its exit switches back; a test's set-up is undone by its tear-down
_PAIRED_METHODS = ("__enter__", "__aenter__", "__exit__", "__aexit__", "setUp", "setUpClass", "setUpTestData", "tearDown", "tearDownClass")
_BLOCKS = ("body", "orelse", "finalbody")
_MIDDLEWARE_METHODS = frozenset({"__call__", "__acall__", "process_request", "process_view"})
_MANAGEMENT_COMMANDS = "/management/commands/"
_METHOD_DECORATOR = "django.utils.decorators.method_decorator"
_TENANT_CELERY = "tenant_schemas_celery"
_GUARD_NAMES = frozenset(dotted.rpartition(".")[2] for dotted in TENANT_GUARDS.values())


@register
class SchemaSwitchNotRestored(Rule):
    code = "TL606"
    name = "schema-switch-not-restored"
    summary = "a task switches the connection's schema (set_tenant/set_schema/activate) and never switches it back"
    what = (
        "A call of `connection.set_tenant(...)` or `connection.set_schema(...)` (django-tenants' database "
        "connection, `from django.db import connection` or `connections[alias]`, resolved through imports), or "
        "`tenant.activate()` (django-tenants' `TenantMixin`, which calls `set_tenant`; on a receiver named like "
        "the tenant or the tenant model), that is not switched back on every path: no `set_tenant`, `set_schema`, "
        "`set_schema_to_public` or `deactivate()` in a `finally` block guarding the switch. Reported in a Celery task (`@shared_task`, `@app.task`, a `Task` "
        "subclass), or in a function or method the module's tasks run (followed by name, transitively, when the "
        "name is defined once), of a project whose Celery app does not reset the schema per task, and, anywhere outside a "
        "request, where the switch back is there but a return or an exception before it skips it."
    )
    why = (
        "django-tenants keeps the active schema on the database connection, and a worker's connection outlives "
        "its task: the next task runs on the schema the last one left. A task that should run on the public "
        "schema, or that forgot its tenant, then reads and writes the tenant's tables instead, silently where the "
        "table exists in both schemas (\"no error when the table exists in both schemas; it returns the other "
        "tenant's rows\"). `with tenant_context(tenant):` and `with schema_context(name):` switch back on every "
        "path, exceptions included."
    )
    avoids = (
        "Silent in request code (views, serializers, consumers, middleware, authenticators): the tenant middleware "
        "sets the schema again at the start of every request, and the corpus's views that switch mean the rest of "
        "their request to run there. Silent in the tasks of a project using tenant_schemas_celery (its app and "
        "`TenantTask` set each task's schema and restore it after), and in helpers of unknown context whose "
        "switch is never switched back (their callers decide). Silent for a switch back in a `finally` block whose "
        "`try` holds the switch or follows it (after at most a few assignments, such as keeping the previous "
        "tenant), and for a switch that is itself the switch back (in a `finally`, or to a value read from "
        "`connection.tenant` before); under `tenant_context`/`schema_context`, also as a decorator of the function "
        "or, through `method_decorator`, of its class, and under a project decorator that runs the function "
        "inside one; for the code that picks the tenant of a request or a run (a `...Middleware` class, a switch to "
        "`request.tenant`, management commands, whose process ends with them); for a helper whose job is to "
        "switch (the switch ends it); in `__enter__`/`__exit__` and a test's `setUp`/`tearDown`; in django-tenants' "
        "own code; and for `set_schema_to_public()` alone, which is how a switch is undone."
    )
    fix_description = (
        "When the switch is the first statement of its block (the task's body after its docstring, a loop's "
        "body, a branch) and the task never switches back, the switch becomes `with tenant_context(tenant):` "
        "(`with schema_context(name, ...):` for `set_schema`, its arguments kept) and the rest of the block moves "
        "inside it, one level deeper; `from django_tenants.utils import tenant_context` is added, or joined to a "
        "one-line import from `django_tenants.utils`, unless the module imports it already. Unsafe: the block "
        "runs on the same schema as before, but what ran after it on the switched schema (the rest of the task, "
        "Celery's result backend saving the task's result, `task_postrun` handlers) now runs on the worker's "
        "previous one. No fix in `async def` code; for a switch that ends its block; where a later statement "
        "already switches back; where a statement of the block shares a line or holds a string spanning lines "
        "(indenting it would change the string); for `set_tenant` with more than the tenant; and where the "
        "guard's name means something else in the module."
    )
    fix_safety = "unsafe"
    node_types = (ast.Call,)
    triggers = ("set_tenant", "set_schema", ".activate()")
    example_filename = "tasks.py"
    invalid = (
        """\
from celery import shared_task
from django.db import connection

from customers.models import Client
from orders.models import Order


@shared_task
def close_orders(schema_name):
    connection.set_tenant(Client.objects.get(schema_name=schema_name))  # TL606
    Order.objects.filter(open=True).update(open=False)
""",
        """\
from django.db import connection


def export(tenants):
    for tenant in tenants:
        connection.set_tenant(tenant)  # TL606
        write_report(tenant)
    connection.set_schema_to_public()
""",
    )
    valid = (
        """\
from celery import shared_task
from django_tenants.utils import tenant_context

from customers.models import Client
from orders.models import Order


@shared_task
def close_orders(schema_name):
    with tenant_context(Client.objects.get(schema_name=schema_name)):
        Order.objects.filter(open=True).update(open=False)
""",
        """\
from django.db import connection


def export(tenant):
    previous = connection.tenant
    connection.set_tenant(tenant)
    try:
        write_report(tenant)
    finally:
        connection.set_tenant(previous)
""",
        """\
from django.db import connection
from django.utils.deprecation import MiddlewareMixin


class HostTenantMiddleware(MiddlewareMixin):
    def process_request(self, request):
        connection.set_tenant(tenant_for(request.get_host()))
""",
    )

    def visit(self, node: ast.Call, ctx) -> Iterator[Diagnostic]:
        func = node.func
        if not (isinstance(func, ast.Attribute) and (func.attr in TENANT_GUARDS and _on_connection(node, ctx.imports)
                                                     or _activates_a_tenant(node, ctx))):
            return
        if in_tenancy_package(ctx.module.name):
            return
        statement, function = _statement_and_function(ctx.parents)
        if statement is None or function is None or function.name in _PAIRED_METHODS:
            return
        execution = ctx.execution.at(node)
        run_by_a_task = execution.role != TASK and function.name in _run_by_tasks(ctx)
        in_task = execution.role == TASK or run_by_a_task
        if (self._selects_the_requests_tenant(node, function, execution.role, ctx)
                or (not in_task and self._switcher(statement, function))
                or _switches_back(node, function, ctx.imports) or self._under_a_guard(function, ctx)):
            return
        later = [call for call in _restores(function, ctx.imports) if call is not node
                 and (call.lineno, call.col_offset) > (node.lineno, node.col_offset)]
        if any(_guarded_by(statement, call, function) for call in later):
            return
        if execution.place == REQUEST or (in_task and _tasks_reset_the_schema(ctx)) or not (in_task or later):
            return  # a request's schema is set again by the next request; a helper's callers may switch back
        call = ctx.segment(node) or ast.unparse(node)
        guard = _guard_for(node).rpartition(".")[2]
        remedy = f"wrap the work in `with {guard}(...):`, which switches back on every path"
        if later:
            back = later[0].lineno
            returns = [r.lineno for r in walk(function) if isinstance(r, ast.Return) and node.lineno < r.lineno < back]
            skipped = f"a return before it (line {returns[0]}) or an exception" if returns else "an exception"
            message = (f"{call} is switched back on line {back} only on the path that reaches it: {skipped} leaves "
                       "this connection on that schema for whatever runs on it next; " + remedy)
            yield self.diagnostic(ctx.location(node), message)
            return
        where = f"{function.name}(), which a task of this module runs," if run_by_a_task else "a task"
        message = (f"{call} switches the database connection's schema in {where} and nothing switches it back: the "
                   "worker runs its next task on this connection, on that schema (the project's Celery app does not "
                   "reset it per task, as tenant_schemas_celery's does); " + remedy)
        yield self.diagnostic(ctx.location(node), message, fix=self._guard_fix(node, statement, function, ctx))

    @staticmethod
    def _selects_the_requests_tenant(node: ast.Call, function: Function, role: str, ctx) -> bool:
        """The switch is the job of the code that picks the tenant for a request or a command run, where its
        role does not say so already: a middleware by its shape (Django's or ASGI's), a switch to
        `request.tenant`, a management command (by its base, or its folder)."""
        if role == COMMAND or _MANAGEMENT_COMMANDS in ctx.path.replace("\\", "/"):
            return True
        owner = ctx.execution.owner_of(function)
        if function.name in _MIDDLEWARE_METHODS and owner is not None and (
                owner.name.endswith("Middleware") or any("Middleware" in ast.unparse(b) for b in owner.bases)):
            return True
        argument = node.func.value if node.func.attr == _ACTIVATE else node.args[0] if node.args else None
        return isinstance(argument, ast.Attribute) and argument.attr == "tenant" and (
            isinstance(argument.value, ast.Name) and argument.value.id == "request")

    @staticmethod
    def _under_a_guard(function: Function, ctx) -> bool:
        """The function, or its class (`@method_decorator(guard, name="dispatch")`), is decorated with a guard,
        or with a project decorator that runs it inside one: the guard switches back when it returns."""
        owner = ctx.execution.owner_of(function)
        decorators = [*function.decorator_list, *(owner.decorator_list if owner is not None else ())]
        return any(_guard_decorator(decorator, ctx, 0) for decorator in decorators)

    @staticmethod
    def _switcher(statement: ast.stmt, function: Function) -> bool:
        """A helper whose job is to switch (`def use_workspace(code): ...; connection.set_tenant(t); return
        True`): the switch ends the function, and whether it is undone is its callers' business (a task's is not:
        the worker's)."""
        body = function.body
        at = next((i for i, s in enumerate(body) if s is statement), None)
        return at is not None and all(
            isinstance(s, ast.Return) and (s.value is None or isinstance(s.value, (ast.Constant, ast.Name)))
            for s in body[at + 1:])

    def _guard_fix(self, node: ast.Call, statement: ast.Expr, function: Function, ctx):
        """`with tenant_context(...):` in place of the switch, the rest of its block inside, or None."""
        if isinstance(function, ast.AsyncFunctionDef) or (node.func.attr == "set_tenant" and len(node.args) + len(
                node.keywords) != 1):
            return None
        block = _block_of(statement, ctx.parents[-2])
        if block is None:
            return None
        at = next(i for i, s in enumerate(block) if s is statement)
        first = 1 if block is function.body and is_docstring(block[0]) else 0
        rest = block[at + 1:]
        lines = ctx.lines
        if at != first or not rest or not alone_on_lines(statement, lines) or not all(
                starts_line(s, lines) for s in rest) or any(spans_lines(n) for s in rest for n in walk(s)):
            return None
        name, imports = imported_name(_guard_for(node), function, ctx)
        if name is None:
            return None
        line = lines[statement.lineno - 1]
        unit = "\t" if "\t" in line[: len(line) - len(line.lstrip())] else "    "
        if node.func.attr == _ACTIVATE:  # `tenant.activate()`: the tenant is the receiver
            arguments = f"({ctx.segment(node.func.value)})"
        else:
            arguments = ctx.segment(node)[len(ctx.segment(node.func)):]
        _, start, _, end = ctx.char_span(statement)
        edits = [Edit(statement.lineno, start, statement.end_lineno, end, f"with {name}{arguments}:")]
        edits += [Edit(line, 0, line, 0, unit) for line in range(rest[0].lineno, rest[-1].end_lineno + 1)
                  if lines[line - 1].strip()]
        return self.fix(f"Switch back on every path: `with {name}(...):` around the rest of the block",
                        [*imports, *edits])


def _guard_for(call: ast.Call) -> str:
    """The guard that does what the switch does and switches back: `tenant_context` for a tenant."""
    return TENANT_GUARDS["set_tenant" if call.func.attr == _ACTIVATE else call.func.attr]


def _activates_a_tenant(call: ast.Call, ctx) -> bool:
    """`tenant.activate()` on what reads as a tenant: a name or attribute saying tenant (or the project's
    tenant model, `client.activate()`), or a lookup of the tenant model (`Client.objects.get(...).activate()`);
    not `translation.activate("fr")` or `timezone.activate(tz)`, which take an argument."""
    if call.func.attr != _ACTIVATE or call.args or call.keywords:
        return False
    receiver = call.func.value
    model = (ctx.tenancy.tenant_model or "").rpartition(".")[2].lower()
    words = ({model} if model else set()) | {name.lower() for name in TENANT_MODEL_NAMES}
    if isinstance(receiver, ast.Call):
        receiver = receiver.func.value if isinstance(receiver.func, ast.Attribute) else receiver.func
        while isinstance(receiver, ast.Attribute) and receiver.attr in ("objects", "_default_manager"):
            receiver = receiver.value
    name = receiver.id if isinstance(receiver, ast.Name) else receiver.attr if isinstance(receiver, ast.Attribute) \
        else ""
    return any(word in name.lower() for word in words)


def _on_connection(call: ast.Call, imports) -> bool:
    receiver = call.func.value
    if isinstance(receiver, ast.Subscript):
        return imports.qualify(receiver.value) == DB_CONNECTIONS
    return imports.qualify(receiver) == DB_CONNECTION


@per_tree
def _defined(tree: ast.Module) -> tuple[dict[str, list[Function]], dict[str, list[Function]]]:
    """The module's functions by name, and its classes' methods by name."""
    functions: dict[str, list[Function]] = {}
    methods: dict[str, list[Function]] = {}
    for node in walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef)):
            kind = functions if isinstance(node, ast.Module) else methods
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    kind.setdefault(item.name, []).append(item)
    return functions, methods


@per_tree  # per file: asked for each switch
def _run_by_tasks(ctx) -> frozenset[str]:
    """The module's functions and methods a task of the module runs, by name (`service.send()` in a task,
    `self._setup_tenant()` in `send`), transitively: a switch they leave is the task's. A name defined more
    than once (as a function, or as a method) is not followed: which one runs is not known."""
    functions, methods = _defined(ctx.tree)
    pending = [f for fs in (*functions.values(), *methods.values()) for f in fs
               if ctx.execution.at(f.body[0]).role == TASK]
    reached: set[str] = set()
    while pending:
        for node in walk(pending.pop()):
            if not isinstance(node, ast.Call):
                continue
            name, kind = ((node.func.id, functions) if isinstance(node.func, ast.Name) else
                          (node.func.attr, methods) if isinstance(node.func, ast.Attribute) else (None, {}))
            if len(kind.get(name, ())) == 1 and name not in reached:
                reached.add(name)
                pending.append(kind[name][0])
    return frozenset(reached)


def _tasks_reset_the_schema(ctx) -> bool:
    """tenant_schemas_celery's app (or its TenantTask) sets each task's schema before it runs and restores the
    previous one after: a switch a task leaves does not reach the next task."""
    return bool(ctx.project_text.files_naming(_TENANT_CELERY))


def _guard_decorator(decorator: ast.expr, ctx, depth: int) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    dotted = ctx.imports.qualify(target) or (f"{ctx.module.name}.{target.id}" if isinstance(target, ast.Name) else "")
    if dotted == _METHOD_DECORATOR and isinstance(decorator, ast.Call) and decorator.args and depth < 2:
        return _guard_decorator(decorator.args[0], ctx, depth + 1)
    if dotted in TENANT_GUARDS.values():
        return True
    module_name, _, name = dotted.rpartition(".")
    module = ctx.module if module_name == ctx.module.name or not module_name else ctx.project.module(module_name, ctx.path)
    definition = next((s for s in module.tree.body if isinstance(s, ast.FunctionDef) and s.name == name),
                      None) if module is not None else None
    return definition is not None and any(
        isinstance(node, (ast.With, ast.AsyncWith)) and any(
            isinstance(item.context_expr, ast.Call) and _called_name(item.context_expr) in _GUARD_NAMES
            for item in node.items) for node in walk(definition))


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _switches_back(call: ast.Call, function: Function, imports) -> bool:
    """The call undoes a switch: it is in a `finally` block, or hands back what the connection held before
    (`previous = connection.tenant` ... `connection.set_tenant(previous)`)."""
    if any(call is n for node in walk(function) if isinstance(node, ast.Try) for s in node.finalbody for n in walk(s)):
        return True
    argument = call.args[0] if call.args else None
    if not isinstance(argument, ast.Name):
        return False
    values = bindings(function, argument.id)
    return bool(values) and all(
        isinstance(value, ast.Attribute) and value.attr in ("tenant", "schema_name")
        and imports.qualify(value.value) == DB_CONNECTION for value in values)


def _statement_and_function(parents: list[ast.AST]) -> tuple[ast.Expr | None, Function | None]:
    """The switch as a statement of its own (`connection.set_tenant(t)`), and the function holding it."""
    statement = parents[-1] if parents and isinstance(parents[-1], ast.Expr) else None
    function = next((p for p in reversed(parents) if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    return statement, function


def _restores(function: Function, imports) -> list[ast.Call]:
    return [node for node in walk(function) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in _RESTORES and (node.func.attr == "deactivate" or _on_connection(node, imports))]


def _guarded_by(switch: ast.stmt, restore: ast.Call, function: Function) -> bool:
    """`restore` is in the `finally` of a `try` that holds the switch, or that follows it in its block after
    only assignments (keeping the previous tenant, say): every path from the switch passes it."""
    for node in walk(function):
        if not isinstance(node, ast.Try) or not any(restore is n for s in node.finalbody for n in walk(s)):
            continue
        if any(switch is n for part in (node.body, node.handlers, node.orelse) for s in part for n in walk(s)):
            return True
        for block in filter(None, (_block_of(node, owner) for owner in walk(function))):
            at = next(i for i, s in enumerate(block) if s is node)
            before = block[:at]
            if any(s is switch for s in before) and all(
                    isinstance(s, (ast.Assign, ast.AnnAssign)) for s in before[next(
                        i for i, s in enumerate(before) if s is switch) + 1:]):
                return True
    return False


def _block_of(statement: ast.stmt, owner: ast.AST) -> list[ast.stmt] | None:
    for field in _BLOCKS:
        block = getattr(owner, field, None)
        if isinstance(block, list) and any(s is statement for s in block):
            return block
    return None

