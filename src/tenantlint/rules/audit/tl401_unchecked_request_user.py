"""TL401 unchecked-request-user: a serializer records the request user as the actor without checking it."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Severity
from tenantlint.model.flow import Atom, Locals, contains, known_at
from tenantlint.model.known import DRF_SERIALIZERS, short
from tenantlint.model.project import ImportTable
from tenantlint.rules.base import Rule, register
from tenantlint.rules.edits.statements import (
    Change,
    Insert,
    Replace,
    Rewrite,
    alone_on_lines,
    bindings,
    import_insert,
    is_docstring,
    leading_imports,
    module_names,
    reads,
    span,
    starts_line,
)
from tenantlint.sourcefile import split_lines
from tenantlint.trees import child_nodes, own_nodes, walk

# The serializer methods DRF calls with the data being saved.
WRITE_METHODS = frozenset({"create", "update", "save", "validate", "to_internal_value"})
# `validate` runs (through `is_valid`) before these, so a guard there covers them.
AFTER_VALIDATE = frozenset({"create", "update", "save"})
# Calls whose keyword arguments are stored: ORM writes, `serializer.save(...)`, dict updates.
# Reads (`filter(owner=user)`, `exists`) only compare and are left alone.
WRITE_CALLS = frozenset({"create", "save", "update", "update_or_create", "get_or_create", "dict"})

REQUEST, CONTEXT, USER = "request", "context", "user"
# How a module may already name DRF's ValidationError, best first: (dotted name bound, spelling).
VALIDATION_ERRORS = (
    ("rest_framework.serializers", "{}.ValidationError"),
    ("rest_framework.serializers.ValidationError", "{}"),
    ("rest_framework.exceptions.ValidationError", "{}"),
    ("rest_framework.exceptions", "{}.ValidationError"),
)


@dataclass(frozen=True)
class _Ref:
    """What an expression holds: the serializer context, the request, or the request's user.

    `by_get`: for the request, taken with `context.get('request')`, so a missing
    request is None (testable) rather than a KeyError; for the user, read with
    `getattr(request, 'user', default)` from such a request, so testing the user
    also tests the request.
    """

    kind: str
    by_get: bool = False
    # for the request and its user: taken with `context['request']`, so a missing request is a KeyError that
    # stops the write, never a wrong actor
    by_subscript: bool = False


class _Reader:
    """Follows the request and its user through one method's locals."""

    def __init__(self, method: ast.FunctionDef | ast.AsyncFunctionDef):
        self.method = method
        self.locals = Locals(method)
        positional = method.args.posonlyargs + method.args.args
        self.self_name = positional[0].arg if positional else "self"

    def ref(self, expr: ast.AST, depth: int = 0) -> _Ref | None:
        if depth > 20:
            return None
        if isinstance(expr, ast.Name):  # any value it may hold: a request user on one branch is enough
            for value, test in self.locals.values_of(expr):
                if test is not None and _mentions_authentication(test):
                    return None  # `if not user.is_authenticated: user = None`: replaced unless authenticated
                found = self.ref(value, depth + 1)
                if found is not None:
                    return found
            return None
        if isinstance(expr, ast.NamedExpr):
            return self.ref(expr.value, depth + 1)
        if isinstance(expr, ast.IfExp):
            if _mentions_authentication(expr.test):
                return None  # `request.user if request.user.is_authenticated else None`
            return self.ref(expr.body, depth + 1) or self.ref(expr.orelse, depth + 1)
        if isinstance(expr, ast.Attribute):
            if expr.attr == "context" and isinstance(expr.value, ast.Name) and expr.value.id == self.self_name:
                return _Ref(CONTEXT)
            if expr.attr == "user":
                request = self.ref(expr.value, depth + 1)
                if request is not None and request.kind == REQUEST:
                    return _Ref(USER, by_subscript=request.by_subscript)
        if isinstance(expr, ast.Subscript) and _text(expr.slice) == "request":
            return _Ref(REQUEST, by_subscript=True) if self._kind(expr.value, depth) == CONTEXT else None
        if isinstance(expr, ast.Call):
            func, args = expr.func, expr.args
            if (isinstance(func, ast.Attribute) and func.attr == "get" and args and _text(args[0]) == "request"
                    and self._kind(func.value, depth) == CONTEXT):
                return _Ref(REQUEST, by_get=True)
            if isinstance(func, ast.Name) and func.id == "getattr" and len(args) >= 2 and _text(args[1]) == "user":
                request = self.ref(args[0], depth + 1)
                if request is not None and request.kind == REQUEST:
                    return _Ref(USER, by_get=request.by_get and len(args) == 3)
        return None

    def _kind(self, expr: ast.AST, depth: int) -> str | None:
        found = self.ref(expr, depth + 1)
        return found.kind if found else None

    def missing_checks(self, facts: list[Atom]) -> tuple[bool, bool]:
        """(request unchecked, authentication unchecked) given what holds at a write."""
        request_checked = any(self._checks_request(atom) for atom in facts)
        authenticated = any(self._checks_authenticated(atom) for atom in facts)
        return not request_checked, not authenticated

    def _checks_request(self, atom: Atom) -> bool:
        expr = atom.expr
        if isinstance(expr, ast.Compare) and len(expr.ops) == 1 and isinstance(expr.ops[0], (ast.In, ast.NotIn)):
            present = atom.holds == isinstance(expr.ops[0], ast.In)  # `'request' in self.context`
            return present and _text(expr.left) == "request" and self._kind(expr.comparators[0], 0) == CONTEXT
        if not atom.holds:
            return False
        found = self.ref(expr)
        if found is not None and found.kind in (REQUEST, USER) and found.by_get:
            return True
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in ("hasattr", "isinstance"):
            found = self.ref(expr.args[0]) if expr.args else None
            return found is not None and found.kind == REQUEST and found.by_get
        return False

    def _checks_authenticated(self, atom: Atom) -> bool:
        expr = atom.expr
        if isinstance(expr, ast.Call) and not expr.args:  # `is_authenticated()`, Django < 1.10
            expr = expr.func
        if not isinstance(expr, ast.Attribute) or self._kind(expr.value, 0) != USER:
            return False
        return (expr.attr == "is_authenticated" and atom.holds) or (expr.attr == "is_anonymous" and not atom.holds)


@register
class UncheckedRequestUser(Rule):
    code = "TL401"
    name = "unchecked-request-user"
    summary = "serializer writes the request user into an audit field without checking the request and authentication"
    what = (
        "A DRF serializer (a class deriving, through imports and project classes, from "
        "`BaseSerializer`, `Serializer`, `ModelSerializer`, `HyperlinkedModelSerializer` or a "
        "class named `*Serializer`; also a `*Mixin` meant for serializers) whose `create`, "
        "`update`, `save`, `validate` or `to_internal_value` writes the request user "
        "(`self.context['request'].user`, `self.context.get('request').user`, "
        "`getattr(request, 'user', None)`, or a local that may hold one of them on some branch, also "
        "through a conditional expression) into an audit field "
        "(option `audit-fields`): `validated_data['updated_by'] = ...`, `instance.owner = ...`, "
        "a keyword of a write call (`Model.objects.create(created_by=...)`, "
        "`serializer.save(owner=...)`, `.update(...)`, `Model(...)`), "
        "`validated_data.setdefault('owner', ...)`, or a dict literal that is stored or returned. "
        "The write is guarded only when, on every path to it, the request was taken with "
        "`self.context.get('request')` and tested (truthiness, `is not None`, `hasattr(request, "
        "'user')`, or `'request' in self.context`) and `user.is_authenticated` was tested true. "
        "A `validate()` whose every return is so guarded covers `create`, `update` and `save`."
    )
    why = (
        "The serializer trusts whatever request its context carries. Run without a request (a "
        "task, a script, a nested serializer given a partial context) it crashes on "
        "`self.context['request']`; run for an anonymous request it hands `AnonymousUser` to the "
        "model (a server error for a foreign key, the text 'AnonymousUser' in a text field); and a "
        "context built for another request records that request's user. Audit fields then name "
        "the wrong actor, which is the plan's Issue 5."
    )
    avoids = (
        "A local replaced under an authentication test (`if not user.is_authenticated: user = None`) and a "
        "conditional expression whose test is about authentication count as checked. "
        "A bare truthiness test of the user (`if request.user:`) does not count: "
        "`AnonymousUser` is truthy. Taking the request with `self.context['request']` does not "
        "count as checking it exists. Not flagged: reads that only compare with the user "
        "(`Model.objects.filter(owner=request.user)`), values that are not the request user, "
        "`HiddenField(default=CurrentUserDefault())`, and views (`perform_create` with "
        "`serializer.save(owner=self.request.user)`: a view always has its request and its "
        "permission classes decide who may write)."
    )
    fix_description = (
        "Inserts the plan's Issue 5 guard at the top of the method (after its docstring): "
        "`request = self.context.get('request')`, then `if not request or not getattr(request, 'user', None) "
        "or not request.user.is_authenticated: raise serializers.ValidationError(\"Invalid user context\")`. "
        "`getattr(request, 'user', None)` where the plan has `hasattr(request, 'user')`: with DRF's "
        "`UNAUTHENTICATED_USER = None` an anonymous request's user is None, and the plan's guard would "
        "raise AttributeError on it. "
        "An existing `request = self.context['request']` before the write is replaced rather than "
        "doubled; the written `self.context['request'].user` becomes `request.user`. "
        "`ValidationError` is spelt the way the module already imports it (`serializers`, an alias, "
        "`from rest_framework.exceptions import ValidationError`); otherwise "
        "`from rest_framework import serializers` is added. The plan's second check, looking the "
        "user up again in the current tenant's schema, is not inserted: it needs a user model and "
        "`schema_context` the module may not have, and whether a user belongs to the active tenant "
        "is TL501's concern. Unsafe: requests without an authenticated user are now rejected, also "
        "on paths of the method that did not write. No fix where the name `request` is already used "
        "for something else, the method is written on one line, or `serializers` names another module."
    )
    fix_safety = "unsafe"
    options = ("audit-fields",)
    severity = Severity.WARNING
    node_types = (ast.ClassDef,)
    triggers = ("context",)  # every request-user value it follows is read from `self.context`...
    requires = (".user",)  # ...and is its request's `.user`
    example_filename = "serializers.py"
    invalid = (
        """\
from rest_framework import serializers


class RecordSerializer(serializers.ModelSerializer):
    def update(self, instance, validated_data):
        validated_data["updated_by"] = self.context["request"].user  # TL401
        return super().update(instance, validated_data)
""",
    )
    valid = (
        """\
from rest_framework import serializers


class RecordSerializer(serializers.ModelSerializer):
    def update(self, instance, validated_data):
        request = self.context.get("request")
        if not request or not request.user.is_authenticated:
            raise serializers.ValidationError("Invalid user context")
        validated_data["updated_by"] = request.user
        return super().update(instance, validated_data)
""",
    )

    def visit(self, node: ast.ClassDef, ctx) -> Iterator[Diagnostic]:
        if not self._is_serializer(node, ctx):
            return
        audit_fields = frozenset(ctx.options.audit_fields)
        methods = [s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
        validated = any(m.name == "validate" and _guards_every_return(m) for m in methods)
        lines = ctx.lines
        for method in methods:
            if method.name not in WRITE_METHODS or (validated and method.name in AFTER_VALIDATE):
                continue
            found = _unchecked_writes(method, audit_fields)
            if found and ctx.serializer_use.only_authenticated_views(node.name):
                return  # DRF views give it their request, and each requires an authenticated user
            guard = _guard(method, [value for value, _ in found], ctx.tree, ctx.imports, lines) if found else None
            fix = self.fix("Raise ValidationError unless the request exists and its user is authenticated") \
                if guard else None
            for value, message in found:
                yield self.diagnostic(ctx.location(value), message, fix=fix)

    def apply_fixes(self, module, diagnostics: list[Diagnostic], context):
        from tenantlint.rules.edits.statements_cst import apply_changes

        text = module.code
        tree, lines = ast.parse(text), split_lines(text)
        imports = ImportTable(tree, "", False)
        wanted = {(d.line, d.col, d.end_line, d.end_col) for d in diagnostics}
        values: dict[ast.AST, list[ast.expr]] = {}
        for method in _write_methods(tree):
            for value, _ in _unchecked_writes(method, frozenset(self.options.audit_fields)):
                if span(value, lines) in wanted:
                    values.setdefault(method, []).append(value)
                    wanted.discard(span(value, lines))
        if wanted:
            raise ValueError(f"no unchecked write at {sorted(wanted)}")
        changes: list[Change] = []
        for method, written in values.items():
            guard = _guard(method, written, tree, imports, lines)
            if guard is None:
                raise ValueError(f"no place for the guard in '{method.name}'")
            changes += guard
        return apply_changes(module, list(dict.fromkeys(changes)), lines)

    def _is_serializer(self, node: ast.ClassDef, ctx) -> bool:
        ancestors = ctx.project.class_ancestors(ctx.project.class_in_module(ctx.module, node))
        if ancestors & DRF_SERIALIZERS:
            return True
        return node.name.endswith("Mixin") or any(short(name).endswith("Serializer") for name in ancestors)


def _mentions_authentication(test: ast.expr) -> bool:
    return any(isinstance(node, ast.Attribute) and node.attr in ("is_authenticated", "is_anonymous")
               for node in walk(test))


def _guard(method: ast.FunctionDef | ast.AsyncFunctionDef, values: list[ast.expr], tree: ast.Module,
           imports: ImportTable, lines: list[str]) -> list[Change] | None:
    """The plan's Issue 5 guard for one method as changes to the module; None where it cannot go."""
    positional = method.args.posonlyargs + method.args.args
    body = method.body
    start = 1 if is_docstring(body[0]) else 0
    error = _validation_error(method, tree, imports, lines)
    first_write = next((i for i, s in enumerate(body) if any(contains(s, v) for v in values)), None)
    if not positional or start == len(body) or error is None or first_write is None:
        return None  # also a write in the signature (a default value) has no place for a guard
    reader = _Reader(method)
    binding = next((s for s in body[start:first_write] if _binds_request(s, reader) and alone_on_lines(s, lines)),
                   None)
    request = binding.targets[0].id if binding else "request"
    taken = bindings(method, request)
    if not all(_is_request(v, reader) for v in taken) or (not taken and reads(method, request)):
        return None  # the name means something else here
    raised, import_change = error
    code = (f"{request} = {positional[0].arg}.context.get('request')\n"
            f"if not {request} or not getattr({request}, 'user', None) or not {request}.user.is_authenticated:\n"
            f"    raise {raised}(\"Invalid user context\")\n")
    if binding is not None:
        changes: list[Change] = [Replace(binding, code)]
    elif starts_line(body[start], lines):
        changes = [Insert(code, body[start])]
    else:
        return None  # `def update(self, instance, data): ...` on one line
    user_reads = dict.fromkeys(read for value in values for read in _user_reads(value, reader))
    changes += [Rewrite(read, request) for read in user_reads if _rewritable(read, request)
                and (binding is None or (read.lineno, read.col_offset) > (binding.end_lineno, binding.end_col_offset))]
    return changes + ([import_change] if import_change else [])


def _binds_request(statement: ast.stmt, reader: _Reader) -> bool:
    """`request = self.context['request']` (or `.get('request')`): the guard takes its place."""
    return (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name) and _is_request(statement.value, reader))


def _is_request(value: ast.expr | None, reader: _Reader) -> bool:
    found = reader.ref(value) if value is not None else None
    return found is not None and found.kind == REQUEST


def _user_reads(value: ast.expr, reader: _Reader) -> list[ast.expr]:
    """Where the written user is read from the request: the value itself, or the local it names."""
    if isinstance(value, ast.Name):
        value = reader.locals.value_of(value)
    return [value] if value is not None else []


def _rewritable(value: ast.expr, request: str) -> bool:
    """`<request>.user` spelt another way, and binding nothing the method might read later."""
    return (isinstance(value, ast.Attribute) and value.attr == "user"
            and not (isinstance(value.value, ast.Name) and value.value.id == request)
            and not any(isinstance(n, ast.NamedExpr) for n in walk(value)))


def _validation_error(method, tree: ast.Module, imports: ImportTable,
                      lines: list[str]) -> tuple[str, Change | None] | None:
    """How the guard names DRF's ValidationError here, and the import that makes it so, if any."""
    for dotted, spelling in VALIDATION_ERRORS:
        for local in imports.names_for(dotted):
            if not bindings(method, local):
                return spelling.format(local), None
    if "serializers" in module_names(tree) or bindings(method, "serializers"):
        return None
    return "serializers.ValidationError", _import_serializers(tree, lines)


def _import_serializers(tree: ast.Module, lines: list[str]) -> Change:
    """Add `serializers` to `from rest_framework import ...` when there is one on a line, else a new import."""
    for statement in leading_imports(tree):
        if (isinstance(statement, ast.ImportFrom) and statement.module == "rest_framework" and not statement.level
                and statement.lineno == statement.end_lineno and alone_on_lines(statement, lines)):
            names = [a.name if a.asname is None else f"{a.name} as {a.asname}" for a in statement.names]
            at = len(names)
            if [a.name for a in statement.names] == sorted(a.name for a in statement.names):
                at = next((i for i, a in enumerate(statement.names) if a.name > "serializers"), len(names))
            names.insert(at, "serializers")
            return Replace(statement, f"from rest_framework import {', '.join(names)}\n")
    return import_insert(tree, "from rest_framework import serializers\n", "rest_framework", from_import=True)


def _unchecked_writes(method: ast.FunctionDef | ast.AsyncFunctionDef,
                      audit_fields: frozenset[str]) -> list[tuple[ast.expr, str]]:
    """(value, message) for each write of the request user that is not guarded on every path."""
    reader = _Reader(method)
    found = []
    for field, value in _writes(method, audit_fields):
        written = reader.ref(value)
        if written is None or written.kind != USER:
            continue
        no_request, no_auth = reader.missing_checks(known_at(method, value))
        no_request = no_request and not written.by_subscript
        if no_request or no_auth:
            found.append((value, _message(field, no_request, no_auth)))
    return found


def _write_methods(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in walk(tree):
        if isinstance(node, ast.ClassDef):
            yield from (m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and m.name in WRITE_METHODS)


def _message(field: str, no_request: bool, no_auth: bool) -> str:
    if no_request and no_auth:
        return (f"request user written to '{field}' without checking that the request exists and the user "
                "is authenticated: an anonymous or wrong-context request records the wrong actor")
    if no_auth:
        return (f"request user written to '{field}' without checking that the user is authenticated: "
                "an anonymous request records the wrong actor")
    return (f"request user written to '{field}' without checking that the request exists: take it with "
            "`self.context.get('request')` and test it, so a serializer run without a request is rejected")


def _guards_every_return(method: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    reader = _Reader(method)
    returns = [n for n in own_nodes(method.body) if isinstance(n, ast.Return)]
    return bool(returns) and all(reader.missing_checks(known_at(method, r)) == (False, False) for r in returns)


def _writes(method: ast.FunctionDef | ast.AsyncFunctionDef,
            audit_fields: frozenset[str]) -> Iterator[tuple[str, ast.expr]]:
    """(audit field, value written to it) for each store of a value into an audit field."""
    parents = {child: parent for parent in walk(method) for child in child_nodes(parent)}
    for node in walk(method):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                field = _stored_field(target)
                if field in audit_fields:
                    yield field, node.value
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            if name == "setdefault" and len(node.args) >= 2 and _text(node.args[0]) in audit_fields:
                yield _text(node.args[0]), node.args[1]
            elif _is_write_call(node):
                yield from ((k.arg, k.value) for k in node.keywords if k.arg in audit_fields)
        elif isinstance(node, ast.Dict) and _is_stored(node, parents):
            for key, value in zip(node.keys, node.values):
                if key is not None and _text(key) in audit_fields:
                    yield _text(key), value


def _stored_field(target: ast.expr) -> str | None:
    """The audit field a target names: `data['owner']`, or `instance.owner` (not `self.owner`)."""
    if isinstance(target, ast.Subscript):
        return _text(target.slice)
    if isinstance(target, ast.Attribute) and not (isinstance(target.value, ast.Name) and target.value.id == "self"):
        return target.attr
    return None


def _is_stored(node: ast.Dict, parents: dict[ast.AST, ast.AST]) -> bool:
    """A dict literal is a record when it is returned, assigned, or passed to a write call."""
    parent = parents.get(node)
    while isinstance(parent, (ast.Dict, ast.keyword, ast.Starred)):
        parent = parents.get(parent)
    if isinstance(parent, ast.Call):
        return _is_write_call(parent)
    return isinstance(parent, (ast.Return, ast.Assign, ast.AnnAssign))


def _is_write_call(call: ast.Call) -> bool:
    """ORM writes, `save`, dict updates, and instantiation (`Record(owner=...)`, `self.Meta.model(...)`);
    not a validator, permission or form object handed the user to decide with (`AgreementValid(user=...)`)."""
    name = _call_name(call)
    return name is not None and (name in WRITE_CALLS or name == "model" or (
        name[:1].isupper() and not name.endswith(_DECIDING_CLASSES)))


_DECIDING_CLASSES = ("Valid", "Validator", "Validation", "Permission", "Permissions", "Checker", "Check",
                     "Policy", "Filter", "FilterSet", "Form")


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
