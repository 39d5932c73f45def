"""TL605 thread-local-tenant: a middleware leaves the request's tenant or user on its thread."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Edit
from tenantlint.model.execution import MIDDLEWARE
from tenantlint.rules.base import Rule, register
from tenantlint.rules.edits.statements import alone_on_lines, spans_lines, starts_line, statement_at, statement_path
from tenantlint.trees import child_nodes, own_nodes, per_tree, walk

Function = ast.FunctionDef | ast.AsyncFunctionDef
# objects whose attributes are per thread: what a request leaves there, the thread's next request finds
_PER_THREAD = frozenset({"threading.local", "_threading_local.local", "asgiref.local.Local", "werkzeug.local.Local"})
_SET_CURRENT_TENANT = frozenset({"django_multitenant.utils.set_current_tenant", "django_multitenant.set_current_tenant"})
_UNSET_CURRENT_TENANT = frozenset({"django_multitenant.utils.unset_current_tenant",
                                   "django_multitenant.unset_current_tenant"})
_MULTITENANT = "django_multitenant"  # the holder of `set_current_tenant`, as a name in messages
_REQUEST_FINISHED = frozenset({"django.core.signals.request_finished", "django.core.signals.request_started"})
_RECEIVER = frozenset({"django.dispatch.receiver", "django.dispatch.dispatcher.receiver"})
# where a middleware takes the request: the methods that run before the view
_SETTING_METHODS = frozenset({"__call__", "process_request", "process_view"})
# an attribute, or a value's names, saying it holds who or for whom the request is
_WHO = re.compile(r"request|user|tenant|schema|account|org|company|workspace|client|customer|role|member|profile")
_AUTHENTICATED = ("is_authenticated", "is_anonymous")


@dataclass(frozen=True)
class _Write:
    """`holder.attribute = value` (or `setattr`, or `set_current_tenant(value)`) as a statement."""

    statement: ast.stmt
    holder: str
    attribute: str
    value: ast.expr | None  # None: a reset (`= None`, `del`, `delattr`, `__dict__.clear()`, `unset_current_tenant()`)


@register
class ThreadLocalTenant(Rule):
    code = "TL605"
    name = "thread-local-tenant"
    summary = "a middleware puts the request's tenant, user or request on a thread-local and does not reset it"
    what = (
        "An attribute of a module-level `threading.local()` (also asgiref's `Local()`, werkzeug's `Local()`, a "
        "subclass of `threading.local`, or one imported from another module of the project) set in a middleware "
        "(`__call__`, `process_request`, `process_view`) to something about the request: the request itself, its "
        "user, its tenant (by the attribute's name or the value's), and not reset on every path after: no "
        "assignment or `del` of it in a `finally` that every path from the set passes through, no reset in the "
        "middleware's `process_response`, none in a `request_finished` receiver. django-multitenant's "
        "`set_current_tenant(...)` counts the same, with `unset_current_tenant()` as its reset."
    )
    why = (
        "A WSGI server (and Django's thread pool under ASGI) serves request after request on the same threads, so "
        "what one request leaves on a thread-local the next request on that thread finds, whoever sends it: "
        "another user, another tenant. A middleware that sets the user only `if request.user.is_authenticated` "
        "(token authentication happens later, in the view, so every token request is anonymous there), or that "
        "returns early, leaves the previous request's user or tenant in place, and code that reads it (audit "
        "fields, `get_current_user()`, a tenant-filtering manager) acts for that person. A reset in `finally` "
        "around `get_response` ends each request's value with its request."
    )
    avoids = (
        "Silent when every path from the set passes a `finally` that resets the attribute (an assignment of any "
        "value, `del`, `delattr`, `__dict__.clear()`), when the middleware's `process_response` resets it "
        "(`MiddlewareMixin` runs it on every response), when a `request_finished` receiver of the module does; "
        "for `contextvars.ContextVar` (reset with a token); for attributes about neither the request, its user nor "
        "its tenant (a query counter); for writes outside a middleware (a helper's callers decide); in `async` "
        "middleware (there the thread-local is the event loop's, a different fault); in test code. Only files whose text "
        "says `local` (or `Local`, or `set_current_tenant`) are read: a holder imported under another name, from a "
        "module named otherwise, is not seen."
    )
    fix_description = (
        "In a middleware's sync `__call__` (or a function middleware), from the statement that first sets the "
        "thread-local to the end of the method, the body goes inside `try:` and a `finally:` sets each attribute "
        "the method sets back to `None`. Safe: the request runs as before, and the value ends with it (a reader "
        "using `getattr(local, 'user', None)`, or the attribute directly, gets `None` between requests, as it did "
        "before the first). A streaming response's body, produced after the middleware returns, reads `None` "
        "too. No fix for `process_request` style, where the reset belongs in `process_response`; where a "
        "statement of the moved lines shares a line or holds a string spanning lines (indenting it would change "
        "the string); for `set_current_tenant` (the message names `unset_current_tenant()`)."
    )
    fix_safety = "safe"
    node_types = (ast.FunctionDef,)
    triggers = ("get_response", "process_request", "process_view")
    # a holder: a thread-local made or imported here (its module or its name says `local`), or django-multitenant's
    requires = ("local|Local|set_current_tenant",)
    example_filename = "middleware.py"
    invalid = (
        """\
import threading

_thread_locals = threading.local()


class CurrentUserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            _thread_locals.user = request.user  # TL605
        return self.get_response(request)
""",
        """\
from threading import local

from django.utils.deprecation import MiddlewareMixin

_state = local()


class TenantFromHeaderMiddleware(MiddlewareMixin):
    def process_request(self, request):
        _state.tenant = request.headers.get("X-Tenant")  # TL605
""",
    )
    valid = (
        """\
import threading

_thread_locals = threading.local()


class CurrentUserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        _thread_locals.user = request.user
        try:
            return self.get_response(request)
        finally:
            _thread_locals.user = None
""",
        """\
from threading import local

from django.utils.deprecation import MiddlewareMixin

_state = local()


class TenantFromHeaderMiddleware(MiddlewareMixin):
    def process_request(self, request):
        _state.tenant = request.headers.get("X-Tenant")

    def process_response(self, request, response):
        del _state.tenant
        return response
""",
        """\
import contextvars

current_user = contextvars.ContextVar("current_user", default=None)


class CurrentUserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_user.set(request.user)
        try:
            return self.get_response(request)
        finally:
            current_user.reset(token)
""",
    )

    def visit(self, node: ast.FunctionDef, ctx) -> Iterator[Diagnostic]:
        if node.name not in _SETTING_METHODS and not _function_middleware(node, ctx):
            return
        if not _is_middleware(node, ctx):
            return
        holders = _holders(ctx)
        writes = _writes(node.body, holders, ctx)
        sets = [w for w in writes if w.value is not None and _about_the_request(w)]
        if not sets:
            return
        reset_elsewhere = _reset_after_the_response(node, holders, ctx)
        for holder in dict.fromkeys(w.holder for w in sets):
            open_sets = []
            for write in (w for w in sets if w.holder == holder):
                if (holder, write.attribute) in reset_elsewhere:
                    continue
                covered, skipping = _reset_on_every_path(write, node, holders, ctx)
                if not covered:
                    open_sets.append((write, skipping))
            if open_sets:
                yield self._finding(node, holder, open_sets, writes, ctx)

    def _finding(self, function: ast.FunctionDef, holder: str, open_sets, writes: list[_Write], ctx) -> Diagnostic:
        first, skipping = open_sets[0]
        attributes = list(dict.fromkeys(w.attribute for w, _ in open_sets))
        one = len(attributes) == 1
        if holder == _MULTITENANT:
            what, it = "set_current_tenant(...) keeps this request's tenant on the thread", "it"
            remedy = "call `unset_current_tenant()` in a `finally` around `get_response`"
        else:
            named = ", ".join(f"`{holder}.{a}`" for a in attributes)
            what = f"{named} {'keeps' if one else 'keep'} {_who(attributes)} on the thread"
            it = "it" if one else "them"
            where = "in `process_response`" if function.name in ("process_request", "process_view") else (
                "in a `finally` around `get_response`")
            remedy = f"reset {it} {where}"
        condition = _condition(first.statement, function)
        if skipping is not None:
            kind, reset, exit_line = skipping
            how = (f"the reset on line {reset} runs only on the paths that reach it, and the {kind} on line "
                   f"{exit_line} leaves {it} set for the thread's next request, of any user or tenant")
        elif condition is not None:
            how = (f"{it} is set only when `{condition}` (a token is authenticated later, in the view) and nothing "
                   f"resets {it}, so the thread's next request that is not finds the previous one's, of any tenant")
        else:
            how = (f"nothing resets {it} after the response, so the thread's next request, of any user or tenant, "
                   f"starts with {it} (code before this line, or that skips it, reads another person's)")
        return self.diagnostic(ctx.location(first.statement), f"{what}: {how}; {remedy}",
                               fix=self._reset_fix(function, holder, writes, ctx))

    def _reset_fix(self, function: ast.FunctionDef, holder: str, writes: list[_Write], ctx):
        """`try:` from the first set to the end of the method, and a `finally:` resetting what it sets."""
        if holder == _MULTITENANT or (function.name != "__call__" and not _function_middleware(function, ctx)):
            return None
        mine = [w for w in writes if w.holder == holder]
        first = mine[0].statement
        at = next((i for i, s in enumerate(function.body) if any(first is n for n in walk(s))), None)
        if at is None:
            return None
        moved = function.body[at:]
        lines = ctx.lines
        if not all(starts_line(s, lines) for s in moved) or not alone_on_lines(moved[-1], lines) or any(
                spans_lines(n) or isinstance(n, (ast.Yield, ast.YieldFrom)) for n in own_nodes(moved)):
            return None
        start, end = moved[0].lineno, moved[-1].end_lineno
        line = lines[start - 1]
        indent = line[: len(line) - len(line.lstrip())]
        unit = "\t" if "\t" in indent else "    "
        attributes = list(dict.fromkeys(w.attribute for w in mine if w.value is not None))
        resets = "".join(f"\n{indent}{unit}{holder}.{a} = None" for a in attributes)
        edits = [Edit(start, 0, start, 0, f"{indent}try:\n{unit}")]
        edits += [Edit(n, 0, n, 0, unit) for n in range(start + 1, end + 1) if lines[n - 1].strip()]
        edits.append(Edit(end, len(lines[end - 1]), end, len(lines[end - 1]), f"\n{indent}finally:{resets}"))
        return self.fix(f"Reset {', '.join(f'{holder}.{a}' for a in attributes)} in a `finally` after the response",
                        edits)


def _is_middleware(function: ast.FunctionDef, ctx) -> bool:
    """A Django middleware's method (by its base or its `get_response`, or a `...Middleware` class), or the
    inner function of a function middleware."""
    if _function_middleware(function, ctx):
        return True
    if ctx.execution.at(function.body[0]).role == MIDDLEWARE:
        return True
    owner = ctx.execution.owner_of(function)
    return owner is not None and owner.name.endswith("Middleware")


@per_tree
def _inner_middlewares(tree: ast.Module) -> frozenset[int]:
    """`def middleware(request)` inside `def tenant_middleware(get_response)`: Django's function style."""
    found = set()
    for outer in tree.body:
        if isinstance(outer, ast.FunctionDef) and any(a.arg == "get_response" for a in outer.args.args):
            found.update(id(s) for s in outer.body if isinstance(s, ast.FunctionDef) and s.args.args)
    return frozenset(found)


def _function_middleware(function: ast.FunctionDef, ctx) -> bool:
    return id(function) in _inner_middlewares(ctx.tree)


@per_tree
def _holders(ctx) -> dict[str, str]:
    """The per-thread objects this module writes to, by the name it writes through: its own module-level
    ones (`_thread_locals = threading.local()`, or an instance of a subclass), and names it imports that
    another project module binds that way (`from core.locals import _thread_locals`)."""
    found = {name: name for name in _per_thread_names(ctx.tree, ctx.imports)}
    for local, dotted in ctx.imports.bindings.items():
        module_name, _, name = dotted.rpartition(".")
        if not module_name or local in found:
            continue
        module = ctx.project.module(module_name, ctx.path)
        if module is not None and module.path != ctx.path and name in _per_thread_names(module.tree, module.imports):
            found[local] = local
    for local, dotted in ctx.imports.bindings.items():
        if dotted in _SET_CURRENT_TENANT or dotted in _UNSET_CURRENT_TENANT:
            found.setdefault(_MULTITENANT, _MULTITENANT)
    return found


def _per_thread_names(tree: ast.Module, imports) -> frozenset[str]:
    subclasses = {s.name for s in tree.body if isinstance(s, ast.ClassDef)
                  and any(imports.qualify(base) in _PER_THREAD for base in s.bases)}
    names = set()
    for statement in tree.body:
        if isinstance(statement, (ast.Assign, ast.AnnAssign)) and isinstance(statement.value, ast.Call):
            called = statement.value.func
            if imports.qualify(called) in _PER_THREAD or (isinstance(called, ast.Name) and called.id in subclasses):
                targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
    return frozenset(names)


def _writes(body: list[ast.stmt], holders: dict[str, str], ctx) -> list[_Write]:
    """The statements of `body` (not of functions defined in it) that set or reset a holder's attribute."""
    return [write for node in own_nodes(body) if isinstance(node, ast.stmt) for write in _written_by(node, holders, ctx)]


def _written_by(statement: ast.stmt, holders: dict[str, str], ctx) -> Iterator[_Write]:
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id in holders:
                yield _Write(statement, target.value.id, target.attr, _set_value(statement.value))
    elif isinstance(statement, ast.Delete):
        for target in statement.targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id in holders:
                yield _Write(statement, target.value.id, target.attr, None)
    elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        call = statement.value
        func = call.func
        dotted = ctx.imports.qualify(func)
        if dotted in _SET_CURRENT_TENANT and call.args:
            yield _Write(statement, _MULTITENANT, "tenant", _set_value(call.args[0]))
        elif dotted in _UNSET_CURRENT_TENANT:
            yield _Write(statement, _MULTITENANT, "tenant", None)
        elif (isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and len(call.args) >= 2
              and isinstance(call.args[0], ast.Name) and call.args[0].id in holders
              and isinstance(call.args[1], ast.Constant) and isinstance(call.args[1].value, str)):
            value = _set_value(call.args[2]) if func.id == "setattr" and len(call.args) == 3 else None
            yield _Write(statement, call.args[0].id, call.args[1].value, value)
        elif (isinstance(func, ast.Attribute) and func.attr == "clear" and isinstance(func.value, ast.Attribute)
              and func.value.attr == "__dict__" and isinstance(func.value.value, ast.Name)
              and func.value.value.id in holders):
            yield _Write(statement, func.value.value.id, "*", None)


def _set_value(value: ast.expr | None) -> ast.expr | None:
    """The value a write sets, None when it sets None (a reset)."""
    return None if value is None or isinstance(value, ast.Constant) and value.value is None else value


def _about_the_request(write: _Write) -> bool:
    """The attribute's name, or a name in the value, says it is the request, its user or its tenant."""
    if write.holder == _MULTITENANT or _WHO.search(write.attribute.lower()):
        return True
    return any(isinstance(n, ast.Name) and n.id == "request" or isinstance(n, ast.Attribute) and _WHO.search(
        n.attr.lower()) for n in walk(write.value))


def _resets(block: list[ast.stmt], write: _Write, holders: dict[str, str], ctx) -> bool:
    """A statement of `block`, at any depth, writes or clears the attribute `write` sets."""
    return any(w.holder == write.holder and w.attribute in (write.attribute, "*") for w in _writes(block, holders, ctx))


def _reset_on_every_path(write: _Write, function: ast.FunctionDef, holders, ctx):
    """Whether every path from the set passes a reset: a `finally` resetting it around or after the set, or a
    statement setting it to None (or deleting it) after the set in its block or an enclosing one (Django hands
    a middleware the view's exceptions as responses, so only a return or a raise skips it). If not, and a
    reset is there, what skips it: (the kind of exit, the reset's line, the exit's line)."""
    path = statement_path(function, write.statement)
    exits: list[ast.stmt] = []
    for index in range(len(path) - 1, -1, -1):
        owner, field, at = path[index]
        if index > 0 and isinstance(owner, (ast.Try, ast.ExceptHandler)) and field != "finalbody":
            try_statement = owner if isinstance(owner, ast.Try) else statement_at(path[index - 1])
            if isinstance(try_statement, ast.Try) and _resets(try_statement.finalbody, write, holders, ctx):
                return True, None
        for later in getattr(owner, field)[at + 1:]:
            reset = (later.finalbody[0] if isinstance(later, ast.Try) and _resets(later.finalbody, write, holders, ctx)
                     else later if _clears(later, write, holders, ctx) else None)
            if reset is not None:
                if exits:
                    kind = "return" if isinstance(exits[0], ast.Return) else "raise"
                    return False, (kind, reset.lineno, exits[0].lineno)
                return True, None
            exits.extend(_exits(later, write, holders, ctx))
    return False, None


def _clears(statement: ast.stmt, write: _Write, holders, ctx) -> bool:
    """The statement itself sets the attribute `write` sets to None, or deletes it."""
    return any(w.value is None and w.holder == write.holder and w.attribute in (write.attribute, "*")
               for w in _written_by(statement, holders, ctx))


def _exits(statement: ast.stmt, write: _Write, holders, ctx) -> list[ast.stmt]:
    """The returns and raises in `statement` that leave with the attribute set: not in functions it defines,
    not in a `try` whose `finally` resets it; in source order."""
    found, stack = [], [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Return, ast.Raise)):
            found.append(node)
        if isinstance(node, ast.Try) and _resets(node.finalbody, write, holders, ctx):
            stack.extend(reversed(node.finalbody))
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack.extend(reversed(child_nodes(node)))
    return found


def _reset_after_the_response(function: ast.FunctionDef, holders, ctx) -> frozenset[tuple[str, str]]:
    """The (holder, attribute) pairs reset after every response: by the class's `process_response` (for a
    `process_request`/`process_view` set; a `__call__` of its own would not run it), or by a
    `request_finished` receiver of the module (any set)."""
    found: set[tuple[str, str]] = set()
    owner = ctx.execution.owner_of(function)
    if owner is not None and function.name != "__call__":
        for method in owner.body:
            if isinstance(method, ast.FunctionDef) and method.name == "process_response":
                found.update(_reset_pairs(method, holders, ctx))
    for receiver in _finished_receivers(ctx):
        found.update(_reset_pairs(receiver, holders, ctx))
    if any(attribute == "*" for _, attribute in found):
        found |= {(h, w.attribute) for h, a in found if a == "*" for w in _writes(function.body, holders, ctx)
                  if w.holder == h}
    return frozenset(found)


def _reset_pairs(function: ast.FunctionDef, holders, ctx) -> set[tuple[str, str]]:
    return {(w.holder, w.attribute) for w in _writes(function.body, holders, ctx)}


@per_tree
def _finished_receivers(ctx) -> list[ast.FunctionDef]:
    """The module's functions connected to `request_finished` (`@receiver(request_finished)` or
    `request_finished.connect(f)`)."""
    functions = {s.name: s for s in ctx.tree.body if isinstance(s, ast.FunctionDef)}
    found = []
    for function in functions.values():
        for decorator in function.decorator_list:
            if (isinstance(decorator, ast.Call) and ctx.imports.qualify(decorator.func) in _RECEIVER
                    and decorator.args and ctx.imports.qualify(decorator.args[0]) in _REQUEST_FINISHED):
                found.append(function)
    for statement in ctx.tree.body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "connect"
                and ctx.imports.qualify(call.func.value) in _REQUEST_FINISHED and call.args
                and isinstance(call.args[0], ast.Name) and call.args[0].id in functions):
            found.append(functions[call.args[0].id])
    return found


def _condition(statement: ast.stmt, function: ast.FunctionDef) -> str | None:
    """The authentication test the set is under (`request.user.is_authenticated`), if any."""
    for owner, field, _ in statement_path(function, statement):
        if isinstance(owner, ast.If) and field == "body" and any(
                isinstance(n, ast.Attribute) and n.attr in _AUTHENTICATED for n in walk(owner.test)):
            return ast.unparse(owner.test)
    return None


def _who(attributes: list[str]) -> str:
    """What the attributes hold, in words: `this request's user`, `this request`, ..."""
    words = " ".join(attributes).lower()
    kinds = [kind for kind in ("user", "tenant") if kind in words or kind == "tenant" and "schema" in words]
    if not kinds:
        return "this request" if "request" in words else "this request's identity"
    return f"this request's {' and '.join(kinds)}" + (", and the request itself," if "request" in words else "")

