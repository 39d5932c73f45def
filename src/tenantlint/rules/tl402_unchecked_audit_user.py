"""TL402 unchecked-audit-user: a model signal receiver trusts `instance.<audit field>` without checking it."""

from __future__ import annotations

import ast
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Severity
from tenantlint.flow import Locals, known_at
from tenantlint.known import MODEL_SIGNALS, SIGNAL_RECEIVER_DECORATORS, short
from tenantlint.project import ClassInfo
from tenantlint.rules.base import Rule, register

Function = ast.FunctionDef | ast.AsyncFunctionDef

# Calls that only look at a value (print it, test it, compare in a query): passing the
# user to them records no actor.
LOOKING_FUNCTIONS = frozenset({"str", "repr", "bool", "isinstance", "hasattr", "getattr", "print", "id", "type",
                               "len", "format"})
LOOKING_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log",
                             "filter", "exclude", "get", "exists"})
# Calls whose first argument is the value they test.
TESTING_FUNCTIONS = frozenset({"isinstance", "hasattr", "bool"})
SIGNAL_NAMES = frozenset(short(name) for name in MODEL_SIGNALS)
ACTOR, DEREFERENCE = "actor", "dereference"


@register
class UncheckedAuditUser(Rule):
    code = "TL402"
    name = "unchecked-audit-user"
    summary = "model signal receiver uses instance.<audit field> without checking it"
    what = (
        "A receiver of a model signal (`pre_save`, `post_save`, `pre_delete`, `post_delete`, "
        "`m2m_changed`, resolved through imports), registered with `@receiver(signal, ...)`, "
        "`@receiver([signal, ...], ...)` or `signal.connect(handler, ...)` in the same module, that "
        "uses `instance.<audit field>` (option `audit-fields`; also through a local such as "
        "`user = instance.updated_by`, or `getattr(instance, 'updated_by', None)`) either as the "
        "actor of a record (a keyword or positional argument of a call, a dict value, an "
        "attribute or item assignment) or by dereference (`instance.updated_by.email`) without "
        "checking that field on every path to the use. Checks that count: a truthiness or "
        "`is not None` test of the field, of `<field>_id`, or of an attribute of the field "
        "(`instance.updated_by.is_authenticated`), `isinstance`/`hasattr` on it, as an enclosing "
        "`if`, an early `return`/`raise`, an `assert`, an `and` chain or a conditional expression."
    )
    why = (
        "A signal fires for every save, not only those made by a request: a system task, a "
        "data migration or the admin of another tenant saves the record too. The audit field then "
        "holds nobody (dereferencing it raises AttributeError inside the save) or the previous "
        "editor, and the audit log names the wrong actor. This is the plan's Issue 7."
    )
    avoids = (
        "A check on another field does not count. Dereferencing a field declared non-nullable "
        "(a `ForeignKey` without `null=True`) in the sender model of the same project is not "
        "flagged; using it as the actor still is, since a non-null field can hold a stale user. "
        "Not flagged: passing the field to logging, `str`, `getattr`, `isinstance` or a query "
        "filter, formatting it (not its attributes) in an f-string, comparing it, and receivers of other signals "
        "(`user_logged_in`, `request_finished`) or connected from another module."
    )
    fix_description = (
        "Return early when the field is empty or not an authenticated user (`if not "
        "instance.updated_by: return`), before the audit record is created, as the plan's "
        "Issue 7 does."
    )
    options = ("audit-fields",)
    severity = Severity.WARNING
    node_types = (ast.Module,)
    example_filename = "signals.py"
    invalid = (
        """\
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import AuditLog, Record


@receiver(post_save, sender=Record)
def handle_record_save(sender, instance, created, **kwargs):
    AuditLog.objects.create(
        user=instance.updated_by,  # TL402
        action="created" if created else "updated",
    )
""",
    )
    valid = (
        """\
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import AuditLog, Record


@receiver(post_save, sender=Record)
def handle_record_save(sender, instance, created, **kwargs):
    if not instance.updated_by or not instance.updated_by.is_authenticated:
        return
    AuditLog.objects.create(
        user=instance.updated_by,
        action="created" if created else "updated",
    )
""",
    )

    def visit(self, node: ast.Module, ctx) -> Iterator[Diagnostic]:
        audit_fields = frozenset(ctx.options.audit_fields)
        for function, senders in _receivers(node, ctx).items():
            uses = _Uses(function, audit_fields)
            for use, field, kind in uses.unchecked():
                if kind == DEREFERENCE and all(_declared_non_null(s, field, ctx) for s in senders):
                    continue
                yield self.diagnostic(ctx.location(use), _message(field, kind, function.name))


def _message(field: str, kind: str, receiver: str) -> str:
    if kind == ACTOR:
        return (f"'instance.{field}' used as the audit actor in receiver '{receiver}' without checking it: "
                "a record saved by a system task or another tenant's request logs a missing or stale user")
    return (f"'instance.{field}' dereferenced in receiver '{receiver}' without checking it: a record saved "
            "without a user (by a system task, a script or a data migration) raises AttributeError on None")


def _receivers(module: ast.Module, ctx) -> dict[Function, list[ast.expr | None]]:
    """Each model signal receiver of the module, with the `sender=` of each registration (None: any)."""
    found: dict[Function, list[ast.expr | None]] = {}
    top_level = {s.name: s for s in module.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in ast.walk(module):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and _is_receiver_decorator(decorator.func, ctx):
                    signal = decorator.args[0] if decorator.args else _keyword(decorator, "signal")
                    if _names_model_signal(signal, ctx):
                        found.setdefault(node, []).append(_keyword(decorator, "sender"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect":
            handler = node.args[0] if node.args else _keyword(node, "receiver")
            if _names_model_signal(node.func.value, ctx) and isinstance(handler, ast.Name) and handler.id in top_level:
                sender = node.args[1] if len(node.args) > 1 else _keyword(node, "sender")
                found.setdefault(top_level[handler.id], []).append(sender)
    return found


def _is_receiver_decorator(func: ast.expr, ctx) -> bool:
    dotted = ctx.imports.qualify(func)
    if dotted is None:  # imported inside a function: judge by name
        return isinstance(func, (ast.Name, ast.Attribute)) and _last_name(func) == "receiver"
    return dotted in SIGNAL_RECEIVER_DECORATORS


def _names_model_signal(expr: ast.expr | None, ctx) -> bool:
    if isinstance(expr, (ast.List, ast.Tuple)):
        return any(_names_model_signal(element, ctx) for element in expr.elts)
    if not isinstance(expr, (ast.Name, ast.Attribute)):
        return False
    dotted = ctx.imports.qualify(expr)
    if dotted is None:  # imported inside a function (`AppConfig.ready`): judge by name
        return _last_name(expr) in SIGNAL_NAMES
    return dotted in MODEL_SIGNALS


def _last_name(expr: ast.Name | ast.Attribute) -> str:
    return expr.id if isinstance(expr, ast.Name) else expr.attr


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


class _Uses:
    """Where one receiver uses an audit field of its instance, and whether the field was checked there."""

    def __init__(self, function: Function, audit_fields: frozenset[str]):
        self.function = function
        self.audit_fields = audit_fields
        self.locals = Locals(function)
        arguments = function.args
        names = [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
        self.instance_parameter = "instance" if "instance" in names else None
        self.kwargs = arguments.kwarg.arg if arguments.kwarg else None
        self.parents = {child: parent for parent in ast.walk(function) for child in ast.iter_child_nodes(parent)}

    def unchecked(self) -> Iterator[tuple[ast.expr, str, str]]:
        """(use, field, ACTOR or DEREFERENCE) for each use no check of the field guards."""
        for statement in self.function.body:
            for node in ast.walk(statement):
                field = self.field_of(node)
                kind = self._use_kind(node) if field else None
                if kind and not any(a.holds and self._checks(a.expr, field) for a in known_at(self.function, node)):
                    yield node, field, kind

    def field_of(self, expr: ast.AST, depth: int = 0) -> str | None:
        """The audit field an expression holds: `instance.updated_by`, `getattr(instance, 'updated_by')`, a local."""
        if depth > 20:
            return None
        if isinstance(expr, ast.Attribute) and expr.attr in self.audit_fields and self._is_instance(expr.value):
            return expr.attr
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "getattr":
            named = _text(expr.args[1]) if len(expr.args) >= 2 else None
            return named if named in self.audit_fields and self._is_instance(expr.args[0]) else None
        if isinstance(expr, ast.Name) and isinstance(expr.ctx, ast.Load):
            value = self.locals.value_of(expr)
            return self.field_of(value, depth + 1) if value is not None else None
        if isinstance(expr, ast.NamedExpr):
            return self.field_of(expr.value, depth + 1)
        return None

    def _is_instance(self, expr: ast.expr) -> bool:
        if not isinstance(expr, ast.Name):
            return False
        value = self.locals.value_of(expr)
        if value is None:
            return expr.id == self.instance_parameter
        return self._is_kwargs_instance(value)

    def _is_kwargs_instance(self, value: ast.expr) -> bool:
        """`kwargs['instance']` or `kwargs.get('instance')`, for receivers taking only `**kwargs`."""
        if isinstance(value, ast.Subscript):
            source, key = value.value, value.slice
        elif (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "get"
              and value.args):
            source, key = value.func.value, value.args[0]
        else:
            return False
        return isinstance(source, ast.Name) and source.id == self.kwargs and _text(key) == "instance"

    def _use_kind(self, node: ast.AST) -> str | None:
        parent = self.parents.get(node)
        while ((isinstance(parent, ast.IfExp) and node is not parent.test)
               or (isinstance(parent, ast.BoolOp) and node is parent.values[-1])):
            node, parent = parent, self.parents.get(parent)  # `x if c else instance.owner` passes the field on
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return DEREFERENCE
        if isinstance(parent, ast.keyword):
            call = self.parents.get(parent)
            return ACTOR if isinstance(call, ast.Call) and not _only_looks(call) else None
        if isinstance(parent, ast.Call) and node in parent.args:
            return ACTOR if not _only_looks(parent) else None
        if isinstance(parent, ast.Dict) and node in parent.values:
            return ACTOR
        if isinstance(parent, ast.Assign) and parent.value is node:
            return ACTOR if any(isinstance(t, (ast.Subscript, ast.Attribute)) for t in parent.targets) else None
        return None

    def _checks(self, expr: ast.expr, field: str) -> bool:
        """Whether `expr` being true shows the field is set: the field itself, `<field>_id`, or a test on it."""
        while True:
            if self.field_of(expr) == field:
                return True
            if isinstance(expr, ast.Attribute) and expr.attr == f"{field}_id" and self._is_instance(expr.value):
                return True
            if isinstance(expr, ast.Call):
                testing = isinstance(expr.func, ast.Name) and expr.func.id in TESTING_FUNCTIONS and expr.args
                expr = expr.args[0] if testing else expr.func
            elif isinstance(expr, ast.Attribute):
                expr = expr.value
            else:
                return False


def _only_looks(call: ast.Call) -> bool:
    if isinstance(call.func, ast.Name):
        return call.func.id in LOOKING_FUNCTIONS
    return isinstance(call.func, ast.Attribute) and call.func.attr in LOOKING_METHODS


def _declared_non_null(sender: ast.expr | None, field: str, ctx) -> bool:
    """True when the sender is a project model declaring `field` without `null=True`."""
    model = _model(sender, ctx) if sender is not None else None
    declaration = _field_declaration(model, field, ctx, set()) if model else None
    if declaration is None:
        return False
    null = next((k.value for k in declaration.keywords if k.arg == "null"), None)
    return null is None or (isinstance(null, ast.Constant) and null.value is False)


def _model(sender: ast.expr, ctx) -> ClassInfo | None:
    label = _text(sender)
    if label is not None:  # sender="app_label.Model"
        app, _, name = label.rpartition(".")
        return ctx.project.resolve_class(f"{app}.models.{name}") if app else None
    dotted = ctx.imports.qualify(sender)
    return ctx.project.resolve_class(dotted) if dotted else None


def _field_declaration(model: ClassInfo, field: str, ctx, seen: set[str]) -> ast.Call | None:
    """The `models.XField(...)` call declaring `field` on the model or its project base classes."""
    if model.qualname in seen:
        return None
    seen.add(model.qualname)
    for statement in model.node.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else (
            [statement.target] if isinstance(statement, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == field for t in targets):
            value = statement.value
            if isinstance(value, ast.Call) and isinstance(value.func, (ast.Name, ast.Attribute)):
                name = _last_name(value.func)
                if name.endswith(("Field", "ForeignKey")):
                    return value
            return None
    for base in model.bases:
        info = ctx.project.resolve_class(base)
        declaration = _field_declaration(info, field, ctx, seen) if info else None
        if declaration is not None:
            return declaration
    return None


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
