"""What a function does, across the functions it calls: which tenant models it uses, whether it chooses
a schema, and which function a name or `self.method` stands for (in its module, or imported from the
project, at the module's head or in the function). The rules that follow code off the request (a task, a
thread, a consumer, a memo) ask it; `ctx` is what a rule knows of its file (rules.base.FileContext).
"""

from __future__ import annotations

import ast
import re
from typing import Iterator

from tenantlint.model.known import DB_CONNECTION
from tenantlint.model.tenancy import app_label
from tenantlint.trees import own_nodes, walk

Function = ast.FunctionDef | ast.AsyncFunctionDef
# calls that choose the schema the work runs on (set_schema_to_public: the public one, on purpose)
CHOOSING = frozenset({"schema_context", "tenant_context", "set_tenant", "set_schema", "set_schema_to_public",
                      "activate", "call_command", "set_current_tenant"})
# a project helper that switches (`set_country(user)`, `use_tenant(code)`, `switch_schema(name)`)
SWITCHING_HELPER = re.compile(r"^(set|use|switch|activate|enter)_\w*(tenant|schema|country|workspace)", re.IGNORECASE)
# a parameter that carries the tenant to the code that runs elsewhere
TENANT_PARAMETER = re.compile(r"^(schema|schema_name|tenant|tenant_id|tenant_pk|tenant_schema|tenant_name|"
                              r"\w+_schema_name|\w+_schema)$")
_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})
# calls that return the active tenant, or a path made from it
ACTIVE_TENANT_CALLS = frozenset({"django_tenants.utils.get_tenant", "django_tenants.utils.parse_tenant_config_path",
                                 "django_multitenant.utils.get_current_tenant"})
_HELPERS_FOLLOWED = 24  # functions one start reaches through its helpers, at most


def called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def chooses_schema(node: ast.AST) -> bool:
    """A call that chooses the schema (or a project helper named like one), or `with tenant:`."""
    if isinstance(node, ast.Call):
        name = called_name(node) or ""
        return name in CHOOSING or bool(SWITCHING_HELPER.match(name))
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return any(isinstance(item.context_expr, (ast.Name, ast.Attribute))
                   and "tenant" in ast.unparse(item.context_expr).rpartition(".")[2].lower() for item in node.items)
    return False


def tenant_model_use(node: ast.AST, imports, tenancy) -> str | None:
    """`Order` for `Order.objects` (a model imported from a tenant app) or for
    `apps.get_model("orders", "Order")` (a tenant app's label), else None."""
    if isinstance(node, ast.Attribute) and node.attr in _MANAGERS:
        dotted = imports.qualify(node.value)
        if dotted and tenancy.app_kind(dotted.rpartition(".")[0]) == "tenant":
            return f"`{ast.unparse(node.value)}`"
    if isinstance(node, ast.Call) and called_name(node) == "get_model" and node.args and all(
            isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
        label, _, name = node.args[0].value.partition(".")
        if len(node.args) > 1:
            name = node.args[1].value
        tenant_labels = {app_label(app) for app in tenancy.tenant_apps}
        only_shared = {app_label(app) for app in tenancy.shared_apps} - tenant_labels
        if label in tenant_labels and label not in only_shared:
            return f"`{label}.{name}`"
    return None


def takes_tenant(function: Function) -> bool:
    args = function.args
    return any(TENANT_PARAMETER.match(a.arg) for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))


class Reach:
    """The code `start` runs: its own body and, transitively, the functions it calls by name in its
    module, the methods of its class it calls on `self`, and the functions it imports from the project."""

    def __init__(self, start: Function, ctx, methods: dict[str, Function] | None = None, module=None):
        self.functions: list[tuple[Function, object]] = []  # (function, the import table of its module)
        seen: set[int] = set()
        pending = [(start, module or ctx.module, methods or {})]
        while pending and len(self.functions) < _HELPERS_FOLLOWED:
            function, module, own_methods = pending.pop(0)
            if id(function) in seen:
                continue
            seen.add(id(function))
            imports = module.imports
            self.functions.append((function, imports))
            nodes = list(own_nodes(function.body))
            local = imports.local_bindings(nodes)  # `from .helpers import close` inside the function
            for node in nodes:
                if isinstance(node, ast.Call):
                    found = function_named(_run_function(node), module, own_methods, ctx, local)
                    if found is not None:
                        pending.append(found)

    def nodes(self) -> Iterator[tuple[ast.AST, object]]:
        for function, imports in self.functions:
            for node in own_nodes(function.body):
                yield node, imports

    def chooses_schema(self) -> bool:
        return any(chooses_schema(node) for node, _ in self.nodes())

    def active_tenant(self) -> str | None:
        """What of the active tenant the reached code reads, as a message names it; else None."""
        return active_tenant_read(self.nodes())

    def tenant_model(self, tenancy) -> str | None:
        """The first tenant model the reached code uses through its manager, as the message names it."""
        return next(filter(None, (tenant_model_use(node, imports, tenancy) for node, imports in self.nodes())), None)


def active_tenant_read(nodes) -> str | None:
    """`connection.schema_name` (the active schema), `connection.tenant`, `get_tenant()`,
    `get_current_tenant()`, `parse_tenant_config_path(...)` among (node, import table) pairs; else None."""
    for node, imports in nodes:
        if isinstance(node, ast.Attribute) and node.attr in ("schema_name", "tenant") and isinstance(
                node.ctx, ast.Load) and imports.qualify(node.value) == DB_CONNECTION:
            return f"`connection.{node.attr}` (the active {'schema' if node.attr == 'schema_name' else 'tenant'})"
        if isinstance(node, ast.Call) and imports.qualify(node.func) in ACTIVE_TENANT_CALLS:
            return f"`{ast.unparse(node.func)}()` (the active tenant)"
    return None


_TENANT_WORD = re.compile(r"tenant|schema", re.IGNORECASE)


def names_the_tenant(dotted: str, ctx, near: str | None = None) -> bool:
    """The project class or module-level function `dotted` names the tenant or the schema in its code
    (a middleware that sets it, an authenticator or a permission that checks it)."""
    info = ctx.project.resolve_class(dotted, near or ctx.path)
    if info is not None:
        module, definition = info.module, info.node
    else:
        found = project_function(dotted, ctx)
        if found is None:
            return False
        definition, module = found[0], found[1]
    return bool(_TENANT_WORD.search(ast.get_source_segment(module.text, definition) or ""))


def is_storage(node: ast.ClassDef, ctx) -> bool:
    """A storage class: a base, or a base's ancestor, named `...Storage` (Django's, django-storages')."""
    for base in node.bases:
        dotted = ctx.imports.qualify(base) or ast.unparse(base)
        names = {dotted, *ctx.project.ancestors(dotted, ctx.path)}
        if any(name.rpartition(".")[2].endswith("Storage") for name in names):
            return True
    return False


def unguarded_tenant_model(found, ctx) -> str | None:
    """For a function found by `function_named` or `project_function` and run elsewhere (a thread, beat):
    the tenant model it uses, when it takes no tenant and chooses no schema on the way; else None."""
    function, module, methods = found
    if takes_tenant(function):
        return None
    reached = Reach(function, ctx, methods=methods, module=module)
    return None if reached.chooses_schema() else reached.tenant_model(ctx.tenancy)


def _run_function(call: ast.Call) -> ast.expr:
    """What a call runs: `f` for `f(...)`, also for `sync_to_async(f)(...)` and `database_sync_to_async(f)(...)`."""
    func = call.func
    if isinstance(func, ast.Call) and func.args and (called_name(func) or "").endswith("sync_to_async"):
        return func.args[0]
    return func


def class_methods(owner: ast.ClassDef | None) -> dict[str, Function]:
    return {m.name: m for m in owner.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))} \
        if owner is not None else {}


def function_named(expr: ast.expr, module, methods: dict[str, Function], ctx, local: dict[str, str] | None = None):
    """The function `expr` names, as (function, its module, the methods of its class): `self.method`, a
    function of `module`, or one `module` imports from the project (at its head, or, in `local`, in the
    function the expression is in); None for anything else."""
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
        method = methods.get(expr.attr)
        return (method, module, methods) if method is not None else None
    if not isinstance(expr, ast.Name):
        return None
    if local and expr.id in local:  # imported in the function: it shadows the module's own names
        return project_function(local[expr.id], ctx)
    defined = _module_function(module.tree, expr.id)
    if defined is not None:
        return defined, module, {}
    dotted = module.imports.bindings.get(expr.id)
    return project_function(dotted, ctx) if dotted else None


def imports_around(node: ast.AST, ctx) -> dict[str, str]:
    """What the `from ... import` statements of the function holding `node` bind (none at module level)."""
    function = ctx.execution.around(node)[0]
    return ctx.imports.local_bindings(walk(function)) if function is not None else {}


def project_function(dotted: str, ctx):
    """The project's module-level function `package.module.name`, as (function, its module, {}), or None."""
    module_name, _, name = dotted.rpartition(".")
    other = ctx.project.module(module_name, ctx.path) if module_name else None
    found = _module_function(other.tree, name) if other is not None else None
    return (found, other, {}) if found is not None else None


def _module_function(tree: ast.Module, name: str) -> Function | None:
    return next((node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and node.name == name), None)
