"""TL402 unchecked-audit-user: a model signal receiver trusts `instance.<audit field>` without checking it."""

from __future__ import annotations

import ast
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Severity
from tenantlint.model.flow import Locals, known_at
from tenantlint.model.known import LOGGER_FACTORIES, MODEL_SIGNALS, SIGNAL_RECEIVER_DECORATORS, short
from tenantlint.model.project import ClassInfo, ImportTable
from tenantlint.rules.base import Rule, register
from tenantlint.rules.edits.statements import (
    Insert,
    Point,
    Wrap,
    before_first_statement,
    bindings,
    dominates,
    import_insert,
    insertion_point,
    leading_imports,
    module_names,
    span,
    statement_at,
    statement_path,
)
from tenantlint.sourcefile import split_lines
from tenantlint.trees import child_nodes, walk

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
        "flagged, nor is using it as the actor, except for the fields each save rewrites (`updated_by`, "
        "`modified_by`, `last_modified_by`, `deleted_by`), which a system save leaves naming the previous user. "
        "Copying a set-once field (`created_by`, `owner`, `user`) into a field its model declares with "
        "`null=True` is not flagged: a missing user is recorded as missing. "
        "Not flagged: passing the field to logging, `str`, `getattr`, `isinstance` or a query "
        "filter, formatting it (not its attributes) in an f-string, comparing it, and receivers of other signals "
        "(`user_logged_in`, `request_finished`) or connected from another module."
    )
    fix_description = (
        "Guards the use, never the rest of the receiver. Where everything after the use's statement "
        "uses the field too (the receiver's last work), the plan's Issue 7 guard goes right before "
        "that statement, inside the blocks that lead to it (never in a `finally` or `except*` block, "
        "where a `return` swallows an exception or is not allowed, but before that `try`): "
        "`if not instance.updated_by:` log a warning and `return`, then the same for "
        "`not instance.updated_by.is_authenticated`; one guard per field covers the later uses it "
        "precedes. Where the receiver does other work after the use (a count to update, a cleanup), "
        "an early return would skip it: a bare call using the field (`AuditLog.objects.create(...)`, "
        "`send_mail(...)`) is wrapped instead, `if instance.updated_by and "
        "instance.updated_by.is_authenticated:` around it and a warning in its `else:`; any other "
        "statement (an assignment whose name later code may read) gets no fix, and the message names "
        "the line a return would skip. The warning goes to the module's logger (a name bound to "
        "`logging.getLogger(...)` or `structlog.get_logger(...)`); without one, `import logging` "
        "and `logger = logging.getLogger(__name__)` are added after the imports. The plan's tenant "
        "re-lookup of the user (`User.objects.get` in `schema_context`) is not inserted: it needs "
        "a user model and `schema_context` the module may not have, and a user's tenant is "
        "TL501's concern. Unsafe: a save without a user no longer writes its audit entry (and, with "
        "the early return, skips the receiver's remaining uses of the field). No fix where no "
        "statement on the way to the use has a line of its own (a receiver written on one line, "
        "`entry = AuditLog(); entry.user = instance.updated_by`), where `instance` is rebound or set "
        "only in a branch, or where `logger` names something that is not known to be a logger."
    )
    fix_safety = "unsafe"
    options = ("audit-fields",)
    severity = Severity.WARNING
    node_types = (ast.Module,)
    triggers = ("receiver", ".connect(")  # receivers are registered with `@receiver` or `signal.connect(...)`
    requires = (r"\binstance\b",)  # ...and what it checks is `instance.<field>` (a parameter, or kwargs["instance"])
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
        receivers = _receivers(node, ctx.imports)
        if not receivers:
            return
        logger, lines = _module_logger(node, ctx.imports, receivers), ctx.lines
        for function, senders in receivers.items():
            uses = _Uses(function, audit_fields)
            found = [(use, field, kind) for use, field, kind in uses.unchecked()
                     if _may_go_wrong(use, field, kind, senders, uses, ctx)]
            skipped: dict[ast.expr, ast.stmt] = {}
            guards = _guards(function, [(use, field) for use, field, _ in found], uses, logger[0], lines, skipped) \
                if found and logger else {}
            for use, field, kind in found:
                fix = None
                if isinstance(guards.get(use), Insert):
                    fix = self.fix(f"Return early with a warning unless instance.{field} is set and authenticated")
                elif use in guards:
                    fix = self.fix(f"Skip this statement with a warning unless instance.{field} is set and "
                                   "authenticated")
                reason = ""
                if use in skipped:
                    reason = (f"; no fix offered: a guard returning early would also skip line "
                              f"{skipped[use].lineno}, which does not use instance.{field}: check it where it is used")
                yield self.diagnostic(ctx.location(use), _message(field, kind, function.name) + reason, fix=fix)

    def apply_fixes(self, module, diagnostics: list[Diagnostic], context):
        from tenantlint.rules.edits.statements_cst import apply_changes

        text = module.code
        tree, lines = ast.parse(text), split_lines(text)
        imports = ImportTable(tree, "", False)
        receivers = _receivers(tree, imports)
        logger = _module_logger(tree, imports, receivers)
        if logger is None:
            raise ValueError("no logger for the warning")
        wanted = {(d.line, d.col, d.end_line, d.end_col) for d in diagnostics}
        changes = list(logger[1])
        for function in receivers:
            uses = _Uses(function, frozenset(self.options.audit_fields))
            chosen = [(use, field) for use, field, _ in uses.unchecked() if span(use, lines) in wanted]
            guards = _guards(function, chosen, uses, logger[0], lines)
            if len(guards) != len(chosen):
                raise ValueError(f"no place for a guard in '{function.name}'")
            changes += guards.values()
            wanted -= {span(use, lines) for use, _ in chosen}
        if wanted:
            raise ValueError(f"no use of an audit field at {sorted(wanted)}")
        return apply_changes(module, list(dict.fromkeys(changes)), lines)


def _guards(function: Function, uses: list[tuple[ast.expr, str]], found: "_Uses", logger: str,
            lines: list[str], skipped: dict | None = None) -> dict[ast.expr, Insert | Wrap]:
    """The guard that covers each use it can: the first use of a field gets one before its statement,
    and later uses that guard precedes share it. A guard returns from the receiver, so it is placed only
    where everything it would skip uses the field too; else a bare call using the field is wrapped in
    the check, and any other use gets no guard (`skipped`: the first statement a return would skip)."""
    placed: dict[str, list[Point]] = {}
    guards: dict[tuple[int, str], Insert] = {}
    covered: dict[ast.expr, Insert | Wrap] = {}
    wrapped: set[int] = set()
    for use, field in sorted(uses, key=lambda pair: span(pair[0], lines)):
        path = statement_path(function, use)
        point = next((p for p in placed.get(field, []) if dominates(p, path)), None)
        if point is None:
            point = insertion_point(path, lines)
            instance = found.instance_name(use)
            if point is None or instance is None or not _instance_ready(function, instance, path):
                continue
            unrelated = _unrelated_work_after(path, point, instance, field)
            if unrelated is not None:
                # a `return` would skip that work: guard this one statement instead, when nothing after it
                # can need what it binds (a bare call: the audit entry written, a message sent)
                statement = statement_at(point)
                if isinstance(statement, ast.Expr) and id(statement) not in wrapped:
                    wrapped.add(id(statement))
                    covered[use] = Wrap(statement, f"{instance}.{field} and {instance}.{field}.is_authenticated",
                                        _skip_code(instance, field, logger))
                elif skipped is not None:
                    skipped[use] = unrelated
                continue
            placed.setdefault(field, []).append(point)
            guards[id(statement_at(point)), field] = Insert(_guard_code(instance, field, logger), statement_at(point))
        covered[use] = guards[id(statement_at(point)), field]
    return covered


def _unrelated_work_after(path: list[Point], point: Point, instance: str, field: str) -> ast.stmt | None:
    """The first statement an early return at `point` would skip that does not read `instance.<field>`: the
    rest of each block on the way from `point` out to the function's body, the guarded statement excluded."""
    for owner, block_field, index in reversed(path[: path.index(point) + 1]):
        for statement in getattr(owner, block_field)[index + 1:]:
            if not _reads_field(statement, instance, field) and not _no_work(statement):
                return statement
    return None


def _no_work(statement: ast.stmt) -> bool:
    """`return`, `pass`, `...`: what a receiver ends with and nobody misses (its return value is ignored)."""
    return isinstance(statement, (ast.Return, ast.Pass)) or (
        isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))


def _reads_field(statement: ast.stmt, instance: str, field: str) -> bool:
    return any(isinstance(node, ast.Attribute) and node.attr == field and isinstance(node.value, ast.Name)
               and node.value.id == instance for node in walk(statement))


def _skip_code(instance: str, field: str, logger: str) -> str:
    record = f"{{{instance}.__class__.__name__}} {{{instance}.pk}}"
    return f"{logger}.warning(f\"No authenticated {field} user for {record}\")\n"


def _guard_code(instance: str, field: str, logger: str) -> str:
    """The plan's Issue 7 guard: no user, or not an authenticated one, means no audit entry."""
    record = f"{{{instance}.__class__.__name__}} {{{instance}.pk}}"
    return (f"if not {instance}.{field}:\n"
            f"    {logger}.warning(f\"No {field} user for {record}\")\n"
            f"    return\n"
            f"if not {instance}.{field}.is_authenticated:\n"
            f"    {logger}.warning(f\"Invalid {field} user for {record}: {{{instance}.{field}}}\")\n"
            f"    return\n")


def _instance_ready(function: Function, instance: str, path: list[Point]) -> bool:
    """The guard can name the instance: the parameter, never rebound, or a local set once before the use's statement."""
    taken = bindings(function, instance)
    arguments = function.args
    if instance in {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}:
        return len(taken) == 1
    first = next((i for i, s in enumerate(function.body) if isinstance(s, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == instance for t in s.targets)), None)
    return len(taken) == 1 and first is not None and first < path[0][2]


def _module_logger(tree: ast.Module, imports: ImportTable, receivers) -> tuple[str, list[Insert]] | None:
    """The module's logger, or the statements that add `logger = logging.getLogger(__name__)`; None if neither."""
    wanted = {id(receiver) for receiver in receivers}
    scopes = [s for s in tree.body if any(id(node) in wanted for node in walk(s))]

    def usable(name: str) -> bool:
        return not any(bindings(scope, name) for scope in scopes)

    for statement in tree.body:
        if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name) and isinstance(statement.value, ast.Call)
                and imports.qualify(statement.value.func) in LOGGER_FACTORIES and usable(statement.targets[0].id)):
            return statement.targets[0].id, []
    taken = module_names(tree)
    if "logger" in taken or not usable("logger"):
        return None
    logging = next(iter(imports.names_for("logging")), None)
    inserts = []
    if logging is None:
        if "logging" in taken or not usable("logging"):
            return None
        logging = "logging"
        inserts.append(import_insert(tree, "import logging\n", "logging", from_import=False))
    code = f"logger = {logging}.getLogger(__name__)\n"
    leading = leading_imports(tree)
    if leading:
        inserts.append(Insert(code, leading[-1], after=True, separate=True))
    else:
        anchor = inserts[0] if inserts else before_first_statement(tree, code)
        inserts.append(Insert(code, anchor.anchor, anchor.after, separate=True))
    return "logger", inserts


def _message(field: str, kind: str, receiver: str) -> str:
    if kind == ACTOR:
        return (f"'instance.{field}' used as the audit actor in receiver '{receiver}' without checking it: "
                "a record saved by a system task or another tenant's request logs a missing or stale user")
    return (f"'instance.{field}' dereferenced in receiver '{receiver}' without checking it: a record saved "
            "without a user (by a system task, a script or a data migration) raises AttributeError on None")


def _receivers(module: ast.Module, imports: ImportTable) -> dict[Function, list[ast.expr | None]]:
    """Each model signal receiver of the module, with the `sender=` of each registration (None: any)."""
    found: dict[Function, list[ast.expr | None]] = {}
    top_level = {s.name: s for s in module.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in walk(module):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and _is_receiver_decorator(decorator.func, imports):
                    signal = decorator.args[0] if decorator.args else _keyword(decorator, "signal")
                    if _names_model_signal(signal, imports):
                        found.setdefault(node, []).append(_keyword(decorator, "sender"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect":
            handler = node.args[0] if node.args else _keyword(node, "receiver")
            if (_names_model_signal(node.func.value, imports) and isinstance(handler, ast.Name)
                    and handler.id in top_level):
                sender = node.args[1] if len(node.args) > 1 else _keyword(node, "sender")
                found.setdefault(top_level[handler.id], []).append(sender)
    return found


def _is_receiver_decorator(func: ast.expr, imports: ImportTable) -> bool:
    dotted = imports.qualify(func)
    if dotted is None:  # imported inside a function: judge by name
        return isinstance(func, (ast.Name, ast.Attribute)) and _last_name(func) == "receiver"
    return dotted in SIGNAL_RECEIVER_DECORATORS


def _names_model_signal(expr: ast.expr | None, imports: ImportTable) -> bool:
    if isinstance(expr, (ast.List, ast.Tuple)):
        return any(_names_model_signal(element, imports) for element in expr.elts)
    if not isinstance(expr, (ast.Name, ast.Attribute)):
        return False
    dotted = imports.qualify(expr)
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
        self.parents = {child: parent for parent in walk(function) for child in child_nodes(parent)}

    def unchecked(self) -> Iterator[tuple[ast.expr, str, str]]:
        """(use, field, ACTOR or DEREFERENCE) for each use no check of the field guards."""
        for statement in self.function.body:
            for node in walk(statement):
                field = self.field_of(node)
                kind = self._use_kind(node) if field else None
                if kind and not any(a.holds and self._checks(a.expr, field) for a in known_at(self.function, node)):
                    yield node, field, kind

    def field_of(self, expr: ast.AST) -> str | None:
        """The audit field an expression holds: `instance.updated_by`, `getattr(instance, 'updated_by')`, a local."""
        access = self._access(expr)
        return access[0] if access else None

    def instance_name(self, expr: ast.AST) -> str | None:
        """The name the instance goes by where the field held by `expr` is read."""
        access = self._access(expr)
        return access[1] if access else None

    def _access(self, expr: ast.AST, depth: int = 0) -> tuple[str, str] | None:
        if depth > 20:
            return None
        if isinstance(expr, ast.Attribute) and expr.attr in self.audit_fields and self._is_instance(expr.value):
            return expr.attr, expr.value.id
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "getattr":
            named = _text(expr.args[1]) if len(expr.args) >= 2 else None
            return (named, expr.args[0].id) if named in self.audit_fields and self._is_instance(expr.args[0]) else None
        if isinstance(expr, ast.Name) and isinstance(expr.ctx, ast.Load):
            value = self.locals.value_of(expr)
            return self._access(value, depth + 1) if value is not None else None
        if isinstance(expr, ast.NamedExpr):
            return self._access(expr.value, depth + 1)
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


# fields a save rewrites with its own actor: a non-null one can still name the previous saver (stale);
# a non-null owner or creator set once is the record's own, never missing
REWRITTEN_ON_UPDATE = frozenset({"updated_by", "modified_by", "last_modified_by", "deleted_by"})


def _only_looks(call: ast.Call) -> bool:
    if isinstance(call.func, ast.Name):
        return call.func.id in LOOKING_FUNCTIONS
    return isinstance(call.func, ast.Attribute) and call.func.attr in LOOKING_METHODS


def _may_go_wrong(use: ast.expr, field: str, kind: str, senders, uses: "_Uses", ctx) -> bool:
    """A rewritten field as the actor can be stale whatever its nullability; otherwise only a field
    that may be None matters, and a set-once field copied into a nullable field records None as None."""
    if kind == ACTOR and field in REWRITTEN_ON_UPDATE:
        return True
    if all(_declared_non_null(s, field, ctx) for s in senders):
        return False
    return not (kind == ACTOR and _copied_into_nullable(use, uses, ctx))


def _copied_into_nullable(use: ast.expr, uses: "_Uses", ctx) -> bool:
    """`Model.objects.create(created_by=instance.created_by)` or `Model(...)` where the project's model
    declares the keyword's field with `null=True`."""
    keyword = uses.parents.get(use)
    call = uses.parents.get(keyword)
    if not (isinstance(keyword, ast.keyword) and keyword.arg and isinstance(call, ast.Call)):
        return False
    target = call.func
    if isinstance(target, ast.Attribute) and target.attr in CREATING_METHODS and isinstance(target.value, ast.Attribute):
        target = target.value.value  # Model.objects.create
    dotted = ctx.imports.qualify_within(target, uses.function) if isinstance(target, (ast.Name, ast.Attribute)) else None
    model = ctx.project.resolve_class(dotted) if dotted else None
    declaration = _field_declaration(model, keyword.arg, ctx, set()) if model else None
    null = next((k.value for k in declaration.keywords if k.arg == "null"), None) if declaration else None
    return isinstance(null, ast.Constant) and null.value is True


CREATING_METHODS = frozenset({"create", "get_or_create", "update_or_create"})


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
