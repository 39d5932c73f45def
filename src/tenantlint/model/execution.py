"""Where and how each function of a module runs: its execution context.

The same line means different things in different places. In a view the tenant middleware has set
the schema on the connection of the request's thread. In `async def` code the connection is the
event loop thread's, which no middleware set: `connection.schema_name` there is "public", so a key
or a check built from it is the same for every tenant. A task, a management command or a signal
receiver fired by one has no request at all; a test fakes one. Read with `ast` only.
"""

from __future__ import annotations

import ast
import bisect
from dataclasses import dataclass

from tenantlint.model.known import (
    AUTHENTICATORS,
    DRF_SERIALIZERS,
    MIDDLEWARE_MIXIN,
    SIGNAL_RECEIVER_DECORATORS,
    SYNC_TO_ASYNC,
)
from tenantlint.model.project import ModuleInfo, Project
from tenantlint.trees import statements, walk

REQUEST = "request"  # a view, middleware, authenticator, serializer or consumer
BACKGROUND = "background"  # a task, a management command, a signal receiver
TEST = "test"
SETTINGS = "settings"
IMPORT = "import"  # module or class level: runs once, at import, with no request and no tenant
UNKNOWN = "unknown"  # a helper: it runs wherever its callers do

VIEW, MIDDLEWARE, AUTHENTICATOR, SERIALIZER, CONSUMER = "view", "middleware", "authenticator", "serializer", "consumer"
TASK, COMMAND, RECEIVER = "task", "command", "receiver"
_PLACE_OF_ROLE = {VIEW: REQUEST, MIDDLEWARE: REQUEST, AUTHENTICATOR: REQUEST, SERIALIZER: REQUEST, CONSUMER: REQUEST,
                  TASK: BACKGROUND, COMMAND: BACKGROUND, RECEIVER: BACKGROUND}

_VIEW_BASES = frozenset({
    "django.views.View", "django.views.generic.View", "django.views.generic.base.View",
    "rest_framework.views.APIView", "rest_framework.generics.GenericAPIView",
    "rest_framework.viewsets.ViewSet", "rest_framework.viewsets.GenericViewSet",
    "rest_framework.viewsets.ModelViewSet", "rest_framework.viewsets.ReadOnlyModelViewSet",
    "rest_framework.viewsets.ViewSetMixin",
})
_CONSUMER_BASES = frozenset({
    "channels.consumer.SyncConsumer", "channels.consumer.AsyncConsumer",
    "channels.generic.websocket.WebsocketConsumer", "channels.generic.websocket.AsyncWebsocketConsumer",
    "channels.generic.websocket.JsonWebsocketConsumer", "channels.generic.websocket.AsyncJsonWebsocketConsumer",
    "channels.generic.http.AsyncHttpConsumer",
})
_ASYNC_CONSUMER_BASES = frozenset({
    "channels.consumer.AsyncConsumer", "channels.generic.websocket.AsyncWebsocketConsumer",
    "channels.generic.websocket.AsyncJsonWebsocketConsumer", "channels.generic.http.AsyncHttpConsumer",
})
_COMMAND_BASES = frozenset({"django.core.management.BaseCommand", "django.core.management.base.BaseCommand"})
_TASK_BASES = frozenset({"celery.Task", "celery.app.task.Task"})
_TASK_DECORATORS = frozenset({"celery.shared_task", "celery.app.shared_task"})
_MIDDLEWARE_METHODS = frozenset({"__call__", "__acall__", "process_request", "process_view", "process_response",
                                 "process_exception", "process_template_response"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclass(frozen=True)
class Execution:
    place: str  # REQUEST, BACKGROUND, TEST, SETTINGS, IMPORT or UNKNOWN
    role: str = ""  # VIEW ... RECEIVER, when the place is known from the code itself
    # on an event loop: the connection there is not the one the tenant middleware set
    runs_async: bool = False
    # handed to `sync_to_async` / `database_sync_to_async`: a sync function run from async code
    in_worker_thread: bool = False


class ExecutionMap:
    """The execution context of every function of one module, found by position."""

    def __init__(self, module: ModuleInfo, project: Project, is_test: bool = False, is_settings: bool = False):
        self._module = module
        self._project = project
        self._whole_file = TEST if is_test else SETTINGS if is_settings else None
        owners: dict[int, ast.ClassDef] = {}
        functions, handed = [], set()
        text = module.text
        # functions and classes are statements; only a lambda or a call handing a function to a thread
        # needs the expressions walked, and neither can be there without its word in the text
        expressions = "lambda" in text or "sync_to_async" in text
        for node in (walk if expressions else statements)(module.tree):
            if isinstance(node, ast.ClassDef):
                owners.update((id(item), node) for item in node.body
                              if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))
            elif isinstance(node, _FUNCTIONS):
                functions.append(node)
            elif isinstance(node, ast.Call) and node.args and module.imports.qualify(node.func) in SYNC_TO_ASYNC:
                handed.update(_function_named(node.args[0]))
        self._spans = sorted((((f.lineno, f.col_offset), (f.end_lineno, f.end_col_offset), f, owners.get(id(f)))
                              for f in functions), key=lambda span: span[0])
        self._starts = [span[0] for span in self._spans]
        self._enclosing = _enclosing_spans(self._spans)
        self._owners = owners
        self._handed_to_threads = frozenset(handed)
        self._known: dict[int, Execution] = {}

    def at(self, node: ast.AST) -> Execution:
        """The context `node` runs in: that of the innermost function holding it."""
        function, owner = self._innermost(node)
        if self._whole_file is not None:
            return Execution(self._whole_file, runs_async=isinstance(function, ast.AsyncFunctionDef))
        if function is None:
            return Execution(IMPORT)
        found = self._known.get(id(function))
        if found is None:
            found = self._known[id(function)] = self._judge(function, owner)
        return found

    def _innermost(self, node: ast.AST) -> tuple[ast.AST | None, ast.ClassDef | None]:
        position = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
        end = (getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0)
        index = bisect.bisect_right(self._starts, position) - 1
        while index >= 0:
            start, stop, function, owner = self._spans[index]
            if start <= position and end <= stop and function is not node:
                return function, owner
            index = self._enclosing[index]
        return None, None

    def around(self, node: ast.AST) -> tuple[ast.AST | None, ast.ClassDef | None]:
        """The innermost function holding `node`, and the class it is a method of (what `self` is there)."""
        return self._innermost(node)

    def owner_of(self, function: ast.AST) -> ast.ClassDef | None:
        """The class whose body defines `function` (a method), else None."""
        return self._owners.get(id(function))

    def _judge(self, function: ast.AST, owner: ast.ClassDef | None) -> Execution:
        runs_async = isinstance(function, ast.AsyncFunctionDef)
        if isinstance(function, ast.Lambda):  # runs where it is called: judged as the code around it
            outer, outer_owner = self._innermost(function)
            return self._judge(outer, outer_owner) if outer is not None else Execution(UNKNOWN)
        in_thread = not runs_async and (function.name in self._handed_to_threads
                                        or self._decorated(function, SYNC_TO_ASYNC))
        role = self._role(function, owner)
        if not role and owner is None and not in_thread:
            role = self._enclosing_role(function)
        if role == CONSUMER and not runs_async and not in_thread and owner is not None \
                and self._ancestors(owner) & _ASYNC_CONSUMER_BASES:
            runs_async = True  # a sync method of an async consumer is called from its event loop
        place = _PLACE_OF_ROLE.get(role, UNKNOWN)
        return Execution(place, role, runs_async, in_thread)

    def _role(self, function: ast.AST, owner: ast.ClassDef | None) -> str:
        if self._decorated(function, SIGNAL_RECEIVER_DECORATORS):
            return RECEIVER
        if self._decorated(function, _TASK_DECORATORS) or self._task_decorator(function):
            return TASK
        if owner is None:
            arguments = function.args.posonlyargs + function.args.args
            return VIEW if arguments and arguments[0].arg == "request" and self._module.name.endswith("views") else ""
        ancestors = self._ancestors(owner)
        if ancestors & _CONSUMER_BASES:
            return CONSUMER
        if ancestors & _VIEW_BASES:
            return VIEW
        if ancestors & _COMMAND_BASES:
            return COMMAND
        if ancestors & _TASK_BASES:
            return TASK
        if ancestors & AUTHENTICATORS:
            return AUTHENTICATOR
        if ancestors & DRF_SERIALIZERS:
            return SERIALIZER
        if MIDDLEWARE_MIXIN in ancestors or (function.name in _MIDDLEWARE_METHODS and self._takes_get_response(owner)):
            return MIDDLEWARE
        return ""

    def _enclosing_role(self, function: ast.AST) -> str:
        """A nested function (a closure inside a view) runs where its enclosing function does."""
        outer, owner = self._innermost(function)
        return self._judge(outer, owner).role if outer is not None else ""

    def _ancestors(self, cls: ast.ClassDef) -> frozenset[str]:
        found: set[str] = set()
        for base in cls.bases:
            dotted = self._module.imports.qualify(base)
            if dotted:
                found |= self._project.ancestors(dotted, self._module.path)
        return frozenset(found)

    def _decorated(self, function: ast.AST, names: frozenset[str]) -> bool:
        for decorator in function.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if self._module.imports.qualify(target) in names:
                return True
        return False

    def _task_decorator(self, function: ast.AST) -> bool:
        """`@app.task` / `@app.task(...)` on a Celery app object (`app = Celery(...)` here or imported)."""
        for decorator in function.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr == "task" and isinstance(target.value, ast.Name):
                return True
        return False

    @staticmethod
    def _takes_get_response(cls: ast.ClassDef) -> bool:
        return any(isinstance(node, ast.FunctionDef) and node.name == "__init__"
                   and any(argument.arg == "get_response" for argument in node.args.args) for node in cls.body)


def _function_named(handed: ast.expr) -> tuple[str, ...]:
    """The function `sync_to_async(f)` is handed: `f`, or a method `self.f`."""
    if isinstance(handed, ast.Name):
        return (handed.id,)
    if isinstance(handed, ast.Attribute) and isinstance(handed.value, ast.Name) and handed.value.id in ("self", "cls"):
        return (handed.attr,)
    return ()


def _enclosing_spans(spans: list[tuple]) -> list[int]:
    """For each function span (sorted by start), the index of the nearest earlier span holding it, or -1:
    the only spans a position inside it, or the function itself, can also be inside (linear lookups
    on modules of thousands of functions)."""
    enclosing, open_spans = [], []
    for index, (start, stop, _function, _owner) in enumerate(spans):
        while open_spans and spans[open_spans[-1]][1] < stop:
            open_spans.pop()
        enclosing.append(open_spans[-1] if open_spans else -1)
        open_spans.append(index)
    return enclosing
