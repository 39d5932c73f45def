"""TL601 task-without-tenant: a background task works on tenant tables with no tenant chosen."""

from __future__ import annotations

import ast
import os
import re
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Edit
from tenantlint.model.execution import TASK, TEST
from tenantlint.model.summaries import (
    TENANT_PARAMETER,
    Reach,
    chooses_schema,
    class_methods,
    function_named,
    imports_around,
    project_function,
    takes_tenant,
    unguarded_tenant_model,
)
from tenantlint.rules.base import SCHEMA_PER_TENANT_SETTINGS, Rule, register
from tenantlint.rules.context import in_tenancy_package
from tenantlint.rules.edits.imports import imported_name
from tenantlint.rules.edits.statements import bindings, is_docstring, spans_lines, starts_line
from tenantlint.trees import walk

# tenant-schemas-celery: its CeleryApp sends the caller's schema with every task and its TenantTask enters it
_TENANT_AWARE_CELERY = "tenant_schemas_celery"
# a beat scheduler that sends each entry once per tenant (tenant-schemas-celery's, django-tenants-celery-beat's)
_TENANT_AWARE_SCHEDULER = re.compile(r"\bTenantAware\w*Scheduler\b|\bgenerate_beat_schedule\b")
# where a beat scheduler is chosen besides the Python code: the files that start the processes
_LAUNCH_FILES = re.compile(r"^(Procfile.*|(docker-)?compose.*\.ya?ml|Makefile|.*\.sh|supervisord.*\.conf|.*\.service)$")
_LAUNCH_FILE_BYTES = 1 << 20
_QUEUING = frozenset({"delay", "apply_async"})
_SCHEMA_PARAMETER = "schema_name"


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
        "Two steps, each of which leaves the program working. First the task takes the schema: `schema_name=None` "
        "becomes its last keyword parameter and its body runs in `with schema_context(schema_name or "
        "connection.schema_name):`, so a caller that passes no schema, seen or not, keeps the schema the task ran "
        "on before. Then each `task.delay(...)` and `task.apply_async(...)` in the project that passes none is "
        "reported (also for tasks written that way by hand) and fixed to pass `schema_name=connection.schema_name`, "
        "the schema of the code that queues it; `tenantlint check --fix` makes both steps in one run. Unsafe: the "
        "task then works on the tenant that queued it, which is the point, but it is a change of behaviour to "
        "review. No fix for task classes, async tasks, bodies with strings over several lines, positional-only "
        "signatures, or `apply_async` calls whose `args`/`kwargs` are not written out. Otherwise use "
        "tenant-schemas-celery's `CeleryApp`, which sends the queuing code's schema with every task."
    )
    fix_safety = "unsafe"
    node_types = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Dict, ast.Call)
    triggers = ("task", "Task")
    needs_tenant_apps = True
    example_filename = "tasks.py"
    example_settings = SCHEMA_PER_TENANT_SETTINGS
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
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _QUEUING:
            yield from self._call_site(node, ctx)
        elif isinstance(node, (ast.Dict, ast.Call)):
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
        where, found, shown = scheduled
        model = unguarded_tenant_model(found, ctx)
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
        fix = self._schema_parameter_fix(function, ctx) if owner is None else None
        yield self.diagnostic(ctx.location(node), message, fix=fix)

    def _schema_parameter_fix(self, function, ctx):
        """`schema_name=None` as a keyword parameter, and the body in `with schema_context(schema_name or
        connection.schema_name):`: a caller that passes no schema keeps the schema the task ran on before,
        so no call site, seen or not, breaks; those in reach are reported next, to pass theirs."""
        if isinstance(function, ast.AsyncFunctionDef) or bindings(function, _SCHEMA_PARAMETER):
            return None
        body = function.body
        rest = body[1:] if is_docstring(body[0]) else body
        lines = ctx.lines
        if not rest or rest[0].lineno == function.lineno or not all(starts_line(s, lines) for s in rest) or any(
                spans_lines(n) for s in rest for n in walk(s)):
            return None
        parameter = _parameter_edit(function, ctx)
        guard, guard_imports = imported_name("django_tenants.utils.schema_context", function, ctx)
        connection, connection_imports = imported_name("django.db.connection", function, ctx)
        if parameter is None or guard is None or connection is None:
            return None
        first = lines[rest[0].lineno - 1]
        indent = first[: len(first) - len(first.lstrip())]
        unit = "\t" if "\t" in indent else "    "
        edits = [Edit(rest[0].lineno, 0, rest[0].lineno, 0,
                      f"{indent}with {guard}({_SCHEMA_PARAMETER} or {connection}.schema_name):\n{unit}")]
        edits += [Edit(line, 0, line, 0, unit) for line in range(rest[0].lineno + 1, rest[-1].end_lineno + 1)
                  if lines[line - 1].strip()]
        return self.fix(f"Take the schema as `{_SCHEMA_PARAMETER}=None` and run the body in `{guard}("
                        f"{_SCHEMA_PARAMETER} or {connection}.schema_name)`; callers that pass none keep today's "
                        "schema",
                        [*guard_imports, *connection_imports, parameter, *edits])

    def _call_site(self, node: ast.Call, ctx) -> Iterator[Diagnostic]:
        """`close_order.delay(...)` of a project task that takes the schema as an optional parameter, passing
        none: the task runs on the worker's schema, not on the caller's."""
        queued = _queued_task(node, ctx)
        if queued is None or ctx.execution.at(node).place == TEST or self._tenant_aware_project(ctx):
            return
        function, parameter = queued
        call = f"`{ast.unparse(node.func)}(...)`"
        message = (f"{call} queues task '{function.name}' without its `{parameter}`: the task then runs on the "
                   "worker's own schema (the public one), not on this code's tenant; pass "
                   f"`{parameter}=connection.schema_name`")
        yield self.diagnostic(ctx.location(node), message, fix=self._passing_fix(node, parameter, ctx))

    def _passing_fix(self, node: ast.Call, parameter: str, ctx):
        """`schema_name=connection.schema_name` added to a `delay(...)`, or to `apply_async`'s `kwargs`."""
        function = ctx.execution.around(node)[0]
        connection, imports = imported_name("django.db.connection", function, ctx)
        if connection is None:
            return None
        value = f"{connection}.schema_name"
        if node.func.attr == "delay":
            edit = _append_argument(node, f"{parameter}={value}", ctx)
        else:
            given = _apply_async_kwargs(node)
            edit = _append_argument(node, f'kwargs={{"{parameter}": {value}}}', ctx) if given is None else \
                _append_item(given, f'"{parameter}": {value}', ctx)
        if edit is None:
            return None
        return self.fix(f"Pass the caller's schema: `{parameter}={value}`", [*imports, edit])

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
    found = function_named(signature.func.value, ctx.module, {}, ctx, imports_around(node, ctx))
    return (signature, found, f"'{ast.unparse(signature.func.value)}'") if found is not None else None


def _parameter_edit(function, ctx) -> Edit | None:
    """The edit adding `schema_name=None` as the function's last keyword parameter (before `**kwargs`)."""
    args = function.args
    lines = ctx.lines
    if args.posonlyargs:
        return None
    if args.kwarg is not None:
        line, column = ctx.char_span(args.kwarg)[:2]
        star = lines[line - 1].rfind("**", 0, column)
        if star < 0 or lines[line - 1][star + 2:column].strip():
            return None
        return Edit(line, star, line, star, f"{_SCHEMA_PARAMETER}=None, ")
    pieces = [*args.args, *args.defaults, *([args.vararg] if args.vararg else []), *args.kwonlyargs,
              *(d for d in args.kw_defaults if d is not None)]
    if pieces:
        last = max(pieces, key=lambda n: (n.end_lineno, n.end_col_offset))
        _, _, line, column = ctx.char_span(last)
        star = "" if args.vararg or args.kwonlyargs else "*, "
        text = lines[line - 1]
        if text[column:].strip() == ",":  # one parameter per line, with a trailing comma: one more line
            indent = text[: len(text) - len(text.lstrip())]
            added = "".join(f"\n{indent}{piece}," for piece in (*star.split(", ")[:-1], f"{_SCHEMA_PARAMETER}=None"))
            return Edit(line, len(text), line, len(text), added)
        return Edit(line, column, line, column, f", {star}{_SCHEMA_PARAMETER}=None")
    text = lines[function.lineno - 1]
    opening = f"def {function.name}("
    at = text.find(opening) + len(opening)
    if at < len(opening) or text[at:at + 1] != ")":
        return None
    return Edit(function.lineno, at, function.lineno, at, f"*, {_SCHEMA_PARAMETER}=None")


def _queued_task(call: ast.Call, ctx):
    """(the task, its schema parameter) for `task.delay(...)`/`task.apply_async(...)` of a project task
    whose schema or tenant parameter has a default and is not passed; else None."""
    found = function_named(call.func.value, ctx.module, class_methods(ctx.execution.around(call)[1]), ctx,
                           imports_around(call, ctx))
    if found is None:
        return None
    function = found[0]
    if not any("task" in ast.unparse(d).lower() for d in function.decorator_list):
        return None
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    optional = {a.arg for a in positional[len(positional) - len(args.defaults):]} | {
        a.arg for a, default in zip(args.kwonlyargs, args.kw_defaults) if default is not None}
    parameter = next((a.arg for a in (*positional, *args.kwonlyargs)
                      if a.arg in optional and TENANT_PARAMETER.match(a.arg)), None)
    if parameter is None or not _only_chooses(function, parameter):
        return None
    index = next((i for i, a in enumerate(positional) if a.arg == parameter), None)
    if call.func.attr == "delay":
        given_args, given_kwargs = call.args, call.keywords
        if any(isinstance(a, ast.Starred) for a in given_args) or any(k.arg is None for k in given_kwargs):
            return None
        passed = {k.arg for k in given_kwargs}
        if parameter in passed or index is not None and len(given_args) > index:
            return None
        return function, parameter
    keywords = {k.arg: k.value for k in call.keywords}
    if None in keywords:
        return None
    args_given = keywords.get("args", call.args[0] if call.args else None)
    kwargs_given = _apply_async_kwargs(call)
    if "kwargs" in keywords or len(call.args) > 1:
        if kwargs_given is None or any(key is None for key in kwargs_given.keys):
            return None
        if any(isinstance(key, ast.Constant) and key.value == parameter for key in kwargs_given.keys):
            return None
    if args_given is not None:
        if not isinstance(args_given, (ast.Tuple, ast.List)) or any(
                isinstance(e, ast.Starred) for e in args_given.elts):
            return None
        if index is not None and len(args_given.elts) > index:
            return None
    return function, parameter


def _only_chooses(function, parameter: str) -> bool:
    """Every read of `parameter` in the task is in the arguments of a call choosing the schema
    (`schema_context(schema_name or connection.schema_name)`): a task that does something else without
    it (`if schema_name is None:` every tenant) means something by being queued without it."""
    inside: set[int] = set()
    reads = []
    for node in walk(function):
        if isinstance(node, ast.Call) and chooses_schema(node):
            inside.update(id(n) for argument in (*node.args, *(k.value for k in node.keywords)) for n in walk(argument))
        elif isinstance(node, ast.Name) and node.id == parameter and isinstance(node.ctx, ast.Load):
            reads.append(node)
    return bool(reads) and all(id(read) in inside for read in reads)


def _apply_async_kwargs(call: ast.Call) -> ast.Dict | None:
    """The literal `kwargs` dict an `apply_async` call gives (keyword or second argument), else None."""
    given = next((k.value for k in call.keywords if k.arg == "kwargs"), call.args[1] if len(call.args) > 1 else None)
    return given if isinstance(given, ast.Dict) else None


def _append_argument(call: ast.Call, argument: str, ctx) -> Edit | None:
    """`argument` added after the call's last argument, or alone between its empty parentheses."""
    pieces = [*call.args, *call.keywords]
    if pieces:
        last = max(pieces, key=lambda n: (n.end_lineno, n.end_col_offset))
        _, _, line, column = ctx.char_span(last)
        return Edit(line, column, line, column, f", {argument}")
    _, _, line, column = ctx.char_span(call)
    if ctx.lines[line - 1][column - 1:column] != ")" or not ctx.lines[line - 1][:column - 1].endswith("("):
        return None
    return Edit(line, column - 1, line, column - 1, argument)


def _append_item(given: ast.Dict, item: str, ctx) -> Edit | None:
    """`item` added after the dict's last value, or alone in an empty `{}`."""
    if given.values:
        _, _, line, column = ctx.char_span(given.values[-1])
        return Edit(line, column, line, column, f", {item}")
    _, _, line, column = ctx.char_span(given)
    if ctx.lines[line - 1][column - 2:column] != "{}":
        return None
    return Edit(line, column - 1, line, column - 1, item)


def _launch_files(root: str) -> Iterator[str]:
    """The text of the files at the project's root, and one folder down, that start its processes."""
    folders = (entry.path for entry in _entries(root) if entry.is_dir() and not entry.name.startswith("."))
    for folder in (root, *folders):
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
