"""TL101 shared-request-state: request data kept on an object that serves more than one request."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from tenantlint.diagnostics import Applicability, Diagnostic, Fix, Severity
from tenantlint.model.known import (
    ADMIN_SITES,
    AUTHENTICATORS,
    CHANNELS_MIDDLEWARE,
    MODEL_ADMINS,
    PER_REQUEST_MODULES,
    THREAD_LOCALS,
    in_modules,
    is_django_middleware,
    short,
)
from tenantlint.model.project import ClassInfo, ModuleInfo, _module_level_statements
from tenantlint.rules.state.state_plan import StatePlan, StatePlanner, module_names
from tenantlint.rules.base import Rule, register
from tenantlint.trees import child_nodes, parameter_names, statement_children, walk

REQUEST_PARAMS = frozenset({"request", "scope"})
MIDDLEWARE_METHODS = frozenset({
    "__call__", "__acall__", "process_request", "process_view", "process_response",
    "process_exception", "process_template_response",
})
AUTHENTICATOR_METHODS = frozenset({
    "authenticate", "authenticate_header", "authenticate_credentials", "enforce_csrf",
    "get_user", "get_header", "get_raw_token", "get_validated_token",
})
ASGI_PARAMS = ("scope", "receive", "send")
# Methods that build the object rather than serve a request.
CONSTRUCTION = frozenset({"__init__", "__new__", "__init_subclass__", "__set_name__", "__class_getitem__"})
MUTATORS = frozenset({
    "append", "extend", "insert", "add", "update", "setdefault", "appendleft", "extendleft", "__setitem__",
})
KEYED_MUTATORS = frozenset({"setdefault", "__setitem__"})
CONTAINER_FACTORIES = frozenset({"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "Counter"})
CLASS_FACTORIES = frozenset({"get_user_model", "get_model"})


@dataclass(frozen=True)
class Holder:
    """A kind of object that keeps state: how to name it, how widely it is shared, where requests enter it."""

    description: str
    reach: str
    severity: Severity
    entry_methods: frozenset[str]
    entry_params: frozenset[str]
    unit: str = "request"
    latent: bool = False
    kind: str = ""  # asgi, middleware, admin, authenticator or instance: what calls its methods

    def message(self, store: "Store") -> str:
        message = f"request-derived value {store.verb} {store.text} in {self.description}: {self.reach}"
        return message if self.latent else f"{message}, so {store.consequence(self.unit)}"


@dataclass
class StateFix(Fix):
    """A codemod fix carrying the plan detection made: every access of the attribute to rewrite."""

    plan: StatePlan | None = None


@dataclass
class Store:
    """One write: `node` is what gets reported, `root` the name or `type(...)` call the written chain starts at."""

    node: ast.AST
    text: str
    root: ast.expr | None
    attrs: list[str]
    rebinds: bool
    derived: bool
    declared_global: bool = False
    collects: bool = False

    @property
    def verb(self) -> str:
        return "added to" if self.collects else "stored on"

    def consequence(self, unit: str) -> str:
        return f"every {unit}'s data collects in it" if self.collects else f"concurrent {unit}s overwrite each other"


@dataclass
class ModuleFacts:
    """Module-level bindings, and the classes of this module that have one shared instance."""

    bindings: dict[str, ast.AST] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)
    registered: set[str] = field(default_factory=set)


@dataclass
class Binding:
    """A module-level name: its kind, the class or value it is bound to, and the module that binds it."""

    kind: str
    node: ast.AST | None
    module: ModuleInfo


@register
class SharedRequestState(Rule):
    code = "TL101"
    name = "shared-request-state"
    summary = "request-derived state stored on an object that outlives the request"
    what = (
        "A request-derived value written to an object that serves more than one request. Request-derived: "
        "the `request` or ASGI `scope` parameter, anything read or computed from it (attributes, items, "
        "calls, f-strings, locals assigned from them), every parameter of a request-path method (the "
        "`validated_token` of `get_user`, the `response` of `process_response`), a local container filled "
        "with such values (`found[key].append(origin)`), an attribute of the object read after a "
        "request-derived value was stored in it (`self.role`, or `self.request` stored by another method, "
        "which also makes the reading method, an admin's `list_display` callable, part of the request), "
        "and a value chosen under an `if`/`for`/`while`/`match` on them. Written to: `self.<attr>` (`=`, `+=`, `setattr`, item "
        "assignment, `append`/`add`/`update` on a container attribute) in a request-path method, or a helper "
        "method it passes request data to (also a function of the module handed the object and request data, "
        "`remember(self, request.user)`, whose stores on that parameter are reported without a fix), of a "
        "Django middleware (`MiddlewareMixin` or Django's own "
        "middleware as a base, a class taking `get_response` and defining `__call__`, or an old-style "
        "class with `process_*` methods), a Channels or other ASGI middleware, a `ModelAdmin` or `AdminSite`, "
        "a class instantiated once at module level or as a class attribute, or a DRF/simplejwt authenticator; "
        "and, from any function, a class attribute (`Cls.x`, `type(self).x`, `self.__class__.x`, `cls.x`), "
        "a module global (`global X`, `X[...]`, `X.append(...)`, an attribute of a project module) or an "
        "attribute of a module-level instance. Base classes are resolved through imports, aliases, relative "
        "imports and the project's own class hierarchy across files; the `middleware-bases` and "
        "`authenticator-bases` options name more."
    )
    why = (
        "Django builds each middleware once per process and calls that one instance for every request, on "
        "every thread and every async task; `admin.site.register` keeps one `ModelAdmin` per model for the "
        "process's lifetime; a module-level instance, class attribute or global is one object for everyone. "
        "While user A's request runs between `self._current_request = request` and the line that reads it "
        "back, user B's request on another thread stores its own request there, and A's code carries on with "
        "B's user and tenant: A's record is looked up or written in B's schema, and the audit log names the "
        "wrong person. Renaming does not help (`self._url`, `self.helper`, `self.fieldsets` were all real "
        "leaks), and neither does deleting the attribute in a `finally`: the window is still open. DRF builds "
        "authenticators per request in `APIView.get_authenticators`, so there the pattern is a latent hazard, "
        "reported as a warning: it becomes a live race as soon as the instance is cached or made "
        "module-level, and `get_user` silently depends on `authenticate` having run on the same instance."
    )
    avoids = (
        "Assignments in `__init__` (`self.get_response = get_response`); values that do not come from the "
        "request (settings, constants, lazily compiled patterns), and counters or appends that merely sit "
        "under a request condition; class-based views, serializers, forms, Channels consumers and inline "
        "admins (built per request by `get_inline_instances`), which get a fresh instance per request or "
        "connection; authentication backends and other classes of unknown kind; `threading.local`, "
        "`asgiref.local.Local` and `ContextVar` objects and their attributes; objects created inside the "
        "request (locals); tables keyed by a request-derived key (`SITE_CACHE[host] = site`: each request "
        "writes its own entry); `update`/`add` calls on things not known to be containers "
        "(`Record.objects.update(...)`, `cache.add(...)`). A `ModelAdmin` subclass counts as shared even when "
        "its registration is not in view (a base admin registered through its subclasses), since Django only "
        "instantiates admins by registering them. A module-level instance counts only when it is created in "
        "the class's own module, and a helper inherited from a base class in another file is checked only "
        "as part of that base."
    )
    fix_description = (
        "Fixed per attribute of `self`, when every access of it in the class can be rewritten. A module-level "
        "`contextvars.ContextVar` named `_<Class>_<attr>` takes the attribute's place, its default the literal "
        "the class body or `__init__` gave the attribute (else None): stores become `.set(value)`, reads "
        "`.get()`, `getattr(self, \"x\", d)` `.get(d)`, `hasattr` a sentinel check, `del`/`delattr` in the "
        "`finally` of a `try` the store opens `.reset(token)`, elsewhere `.set(default)`. The store that opens a "
        "method keeps its token, and the rest of the method goes into a `try` whose `finally` resets the "
        "variable, when every reader runs inside that method (itself, or helpers only it calls); where a reader "
        "runs later (`process_request` stores, `process_response` reads), the value stays set in the thread's "
        "context (under WSGI a thread's next request starts with it until it stores its own). In an "
        "authenticator of a django-tenants project, a request kept only to read its `tenant` (the plan's Issue "
        "1) is no longer kept: `<attr>.tenant` becomes `connection.tenant` (`from django.db import connection`), "
        "which the tenant middleware sets to `request.tenant`. A private attribute nothing in the class reads "
        "loses its stores, when they store a name or a constant. Safe when the attribute is private (`_x`) and "
        "nothing but the class's own methods reaches it (no `obj._x` or subclass use in the module, no "
        "`vars(self)` or `getattr(self, name)`); unsafe otherwise. The connection form is always unsafe: "
        "`connection.tenant` is never None (the public schema has a stand-in tenant) and no longer depends on "
        "`authenticate` having run. No fix for counters (`+=`), containers kept across requests, tuple targets, "
        "an attribute a base class may define or read (a project base that uses it, a framework attribute such "
        "as `readonly_fields`, a public attribute of a base the fix does not know), a public attribute nothing in "
        "the class reads, mangled `__x` names, classes not at module level, class attributes and module globals."
    )
    fix_safety = "safe or unsafe"
    options = ("middleware-bases", "authenticator-bases")
    severity = Severity.ERROR
    node_types = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    # every finding needs a `request`/`scope` parameter or a known request-path method
    triggers = tuple(rf"\b{word}\b" for word in ("request", "scope", *sorted(MIDDLEWARE_METHODS | AUTHENTICATOR_METHODS)))
    example_filename = "middleware.py"
    invalid = (
        """\
class CurrentUserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        self.user = request.user  # TL101
        return self.get_response(request)
""",
        """\
from rest_framework_simplejwt.authentication import JWTAuthentication


class TenantAwareJWTAuthentication(JWTAuthentication):
    def authenticate(self, request):
        self._current_request = request  # TL101
        return super().authenticate(request)
""",
    )
    valid = (
        """\
from contextvars import ContextVar

current_user = ContextVar("current_user", default=None)


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

    def __init__(self, options):
        super().__init__(options)
        self._facts_for = ""
        self._facts: dict[str, ModuleFacts] = {}
        self._names: set[str] | None = None

    def visit(self, node, ctx) -> Iterator[Diagnostic]:
        if self._facts_for != ctx.path:
            # Module facts hold tree nodes: keep them only while one file is checked, as the
            # engine releases trees (and a module's text may change between checks).
            self._facts_for, self._facts, self._names = ctx.path, {}, None
        if isinstance(node, ast.ClassDef):
            yield from self._check_class(node, ctx)
        elif not _nested_in_function(ctx.parents):
            yield from self._check_function(node, ctx)

    # -- self.<attr> in objects that serve many requests --------------------
    def _check_class(self, node: ast.ClassDef, ctx) -> Iterator[Diagnostic]:
        methods = {
            item.name: item for item in node.body
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and _self_name(item) is not None
        }
        if not any(_may_serve_requests(method) for method in methods.values()):
            return
        if not any(_writes_to_self(method) for method in methods.values()):
            return  # nothing to find: skip resolving the bases and the data flow
        info = ctx.project.class_in_module(ctx.module, node)
        names = ctx.project.class_ancestors(info) - {info.qualname}
        bases = [ctx.project.resolve_class(name, ctx.path) for name in names]
        lineage = [info, *(base for base in bases if base is not None)]
        holder = self._holder(node, lineage, ctx)
        if holder is None:
            return
        attributes = None
        planner = None
        paths = _with_stored_attributes(methods, _request_paths(methods, holder))
        for method, (tainted, stored) in paths.items():
            self_name = _self_name(method)
            flow = RequestFlow(method, tainted, tainted_attributes=stored)
            yield from self._through_module_helpers(flow, self_name, holder, ctx)
            for store in flow.stores():
                if not (store.derived and not store.rebinds and isinstance(store.root, ast.Name)
                        and store.root.id == self_name and store.attrs and store.attrs[0] != "__class__"):
                    continue
                if attributes is None:
                    attributes = self._attribute_kinds(lineage, ctx)
                if attributes.get(store.attrs[0]) == "local":
                    continue
                if store.collects and (len(store.attrs) > 1 or attributes.get(store.attrs[0]) != "container"):
                    continue
                if planner is None:
                    planner = StatePlanner(node, lineage, ctx.project.class_ancestors(info), holder.kind,
                                           MIDDLEWARE_METHODS | AUTHENTICATOR_METHODS, CONSTRUCTION, ctx,
                                           self._module_names(ctx))
                plan = planner.plan(store.attrs[0])
                fix = None if plan is None else StateFix(
                    Applicability.SAFE if plan.safe else Applicability.UNSAFE, plan.message, plan=plan)
                yield self.diagnostic(ctx.location(store.node), holder.message(store), holder.severity, fix)

    def _through_module_helpers(self, flow: "RequestFlow", self_name: str | None, holder: Holder,
                                ctx) -> Iterator[Diagnostic]:
        """`remember(self, request.user)`: a function of this module handed the object and request data,
        whose stores on that parameter land on the shared object (reported there, without a fix)."""
        functions = {n.name: n for n in ctx.tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for call in walk(flow.func):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in functions):
                continue
            helper = functions[call.func.id]
            params = [*helper.args.posonlyargs, *helper.args.args]
            handed = [params[i].arg for i, arg in enumerate(call.args) if i < len(params)
                      and isinstance(arg, ast.Name) and arg.id == self_name]
            received = {params[i].arg for i, arg in enumerate(call.args) if i < len(params) and flow.derived(arg)}
            received |= {k.arg for k in call.keywords if k.arg and flow.derived(k.value)}
            if not handed or not received - set(handed):
                continue
            for store in RequestFlow(helper, received - set(handed)).stores():
                if store.derived and not store.rebinds and isinstance(store.root, ast.Name) \
                        and store.root.id in handed and store.attrs:
                    yield self.diagnostic(ctx.location(store.node), holder.message(store), holder.severity)

    def _holder(self, node: ast.ClassDef, lineage: list[ClassInfo], ctx) -> Holder | None:
        ancestors = ctx.project.class_ancestors(lineage[0])
        if ancestors & THREAD_LOCALS or any(in_modules(a, PER_REQUEST_MODULES) for a in ancestors):
            return None
        nodes = [info.node for info in lineage]
        name = node.name
        channels = bool(ancestors & CHANNELS_MIDDLEWARE)
        if channels or _asgi_shape(nodes):
            kind = "Channels middleware" if channels else "ASGI application"
            return Holder(f"{kind} '{name}'", "one instance serves every connection in the process",
                          Severity.ERROR, frozenset({"__call__"}), frozenset(ASGI_PARAMS), unit="connection",
                          kind="asgi")
        if (any(is_django_middleware(a) for a in ancestors) or ancestors & set(self.options.middleware_bases)
                or _django_middleware_shape(nodes)):
            return Holder(f"middleware '{name}'", "one instance serves every request in the process",
                          Severity.ERROR, MIDDLEWARE_METHODS, frozenset({"request"}), kind="middleware")
        if ancestors & ADMIN_SITES:
            return Holder(f"admin site '{name}'", "one site instance serves every admin request",
                          Severity.ERROR, frozenset(), frozenset({"request"}), kind="admin")
        facts = self._module_facts(ctx.module)
        if name in facts.registered or (ancestors & MODEL_ADMINS and ctx.project_text.named_beyond_its_definition(name)):
            # an admin never registered nor derived from is dead code: no site holds an instance of it
            return Holder(f"admin '{name}'", "the admin site keeps one instance per model for the whole process",
                          Severity.ERROR, frozenset(), frozenset({"request"}), kind="admin")
        authenticator = bool(ancestors & (AUTHENTICATORS | set(self.options.authenticator_bases)))
        instance = facts.instances.get(name) if ctx.module.classes.get(name) is node else None
        if instance:
            kind = "authenticator " if authenticator else ""
            entry_methods = AUTHENTICATOR_METHODS if authenticator else MIDDLEWARE_METHODS | AUTHENTICATOR_METHODS
            return Holder(f"{kind}'{name}', instantiated once {instance}",
                          "that one instance serves every request in the process",
                          Severity.ERROR, entry_methods, REQUEST_PARAMS,
                          kind="authenticator" if authenticator else "instance")
        if authenticator:
            return Holder(f"authenticator '{name}'",
                          "DRF builds authenticators per request, so this is a latent hazard rather than a live "
                          "race, until the instance is shared (module-level instance, caching)",
                          Severity.WARNING, AUTHENTICATOR_METHODS, frozenset({"request"}), latent=True,
                          kind="authenticator")
        return None

    def _attribute_kinds(self, lineage: list[ClassInfo], ctx) -> dict[str, str]:
        """`local` or `container` for attributes a class (or its bases) sets in its body or on self."""
        kinds: dict[str, str] = {}
        for info in reversed(lineage):
            for item in walk(info.node):
                if not isinstance(item, (ast.Assign, ast.AnnAssign)) or item.value is None:
                    continue
                kind = self._value_kind(item.value, info.module, ctx)
                if kind not in ("local", "container"):
                    continue
                for target in item.targets if isinstance(item, ast.Assign) else [item.target]:
                    if isinstance(target, (ast.Attribute, ast.Name)):
                        kinds[target.attr if isinstance(target, ast.Attribute) else target.id] = kind
        return kinds

    def apply_fixes(self, module, diagnostics: list[Diagnostic], context):
        from tenantlint.rules.state.state_fix import apply_plans

        plans = [d.fix.plan for d in diagnostics if isinstance(d.fix, StateFix) and d.fix.plan is not None]
        return apply_plans(module, list(dict.fromkeys(plans)))

    def _module_names(self, ctx) -> set[str]:
        if self._names is None:
            self._names = module_names(ctx.tree)
        return self._names

    # -- class attributes and module globals, from any function ---------------
    def _check_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, ctx) -> Iterator[Diagnostic]:
        owner = ctx.parents[-1] if ctx.parents and isinstance(ctx.parents[-1], ast.ClassDef) else None
        self_name = _self_name(node) if owner else None
        params = parameter_names(node)
        tainted = {p for p in params if p in REQUEST_PARAMS}
        if owner and node.name in MIDDLEWARE_METHODS | AUTHENTICATOR_METHODS:
            tainted |= set(params[1:])
        if not tainted and not _mentions_request(node, ctx):
            return
        cls_name = params[0] if owner and _decorated(node, "classmethod") and params else None
        if not _may_write_shared(node, self_name, cls_name):
            return  # every write stays in the function or on `self`: no data flow needed
        flow = RequestFlow(node, tainted, self_name)
        if not flow.has_sources:
            return
        stores = [store for store in flow.stores() if store.derived]
        if not stores:
            return
        local_names = _local_names(node)
        for store in stores:
            target = self._shared_target(store, owner, self_name, cls_name, local_names, ctx)
            if target is not None:
                yield self.diagnostic(ctx.location(store.node), _shared_message(store, *target))

    def _shared_target(self, store: Store, owner, self_name, cls_name, local_names,
                       ctx) -> tuple[str, Binding] | None:
        """What a write from a function lands on: a class attribute, a module global or a module-level instance."""
        root, attrs = store.root, store.attrs
        own_class = Binding("class", owner, ctx.module)
        if not isinstance(root, ast.Name):
            return self._on_class(store, attrs, own_class, ctx) if _is_type_call(root) and attrs else None
        if root.id == cls_name and attrs:
            return self._on_class(store, attrs, own_class, ctx)
        if root.id == self_name:
            is_class = len(attrs) > 1 and attrs[0] == "__class__"
            return self._on_class(store, attrs[1:], own_class, ctx) if is_class else None
        if store.rebinds:
            return ("global", Binding("global", None, ctx.module)) if store.declared_global else None
        if root.id in local_names and not store.declared_global:
            return None
        binding = self._binding(ctx.module, root.id, ctx)
        if binding is not None and binding.kind == "module" and attrs:
            # `state.CURRENT = ...` on an imported project module: one of its globals.
            inner = self._binding(binding.module, attrs[0], ctx)
            binding = inner if inner is not None and len(attrs) == 1 else Binding("global", None, binding.module)
            if inner is not None and inner.kind == "local":
                return None
            attrs = attrs[1:]
        if binding is None or binding.kind in ("module", "local"):
            return None
        if binding.kind == "class":
            return self._on_class(store, attrs, binding, ctx) if attrs else None
        if store.collects and (attrs or binding.kind != "container"):
            return None
        return ("instance" if binding.kind == "instance" else "global"), binding

    def _on_class(self, store: Store, attrs: list[str], binding: Binding, ctx) -> tuple[str, Binding] | None:
        """A class attribute; appends count only on an attribute the class body makes a container."""
        if store.collects:
            body = binding.node.body if isinstance(binding.node, ast.ClassDef) else []
            containers = {name for item in body for name, value in _assignments(item)
                          if self._value_kind(value, binding.module, ctx) == "container"}
            if len(attrs) != 1 or attrs[0] not in containers:
                return None
        return "class", binding

    def _binding(self, module: ModuleInfo, name: str, ctx, depth: int = 0) -> Binding | None:
        """What a module-level name is bound to, following imports into the project's other modules."""
        if depth > 5:
            return None
        bound = self._module_facts(module).bindings.get(name)
        if isinstance(bound, ast.ClassDef):
            return Binding("class", bound, module)
        if isinstance(bound, ast.expr):
            return Binding(self._value_kind(bound, module, ctx), bound, module)
        dotted = module.imports.bindings.get(name)
        if dotted is None:
            return None
        target = ctx.project.module(dotted, module.path)
        if target is not None:
            return Binding("module", None, target)
        owner, _, attr = dotted.rpartition(".")
        source = ctx.project.module(owner, module.path) if owner else None
        if source is not None:
            return self._binding(source, attr, ctx, depth + 1)
        return Binding("class", None, module) if _camel_case(attr) else None

    def _value_kind(self, value: ast.expr, module: ModuleInfo, ctx) -> str:
        """local (thread-local, context variable), container, class, instance or global."""
        if isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)):
            return "container"
        if not isinstance(value, ast.Call):
            return "global"
        dotted = module.imports.qualify(value.func)
        if dotted and ctx.project.ancestors(dotted, module.path) & THREAD_LOCALS:
            return "local"
        callee = short(dotted or _name_of(value.func))
        if callee in CONTAINER_FACTORIES:
            return "container"
        if callee in CLASS_FACTORIES:
            return "class"
        return "instance" if _camel_case(callee) else "global"

    def _module_facts(self, module: ModuleInfo) -> ModuleFacts:
        facts = self._facts.get(module.path)
        if facts is None:
            facts = self._facts[module.path] = _read_module(module)
        return facts


def _shared_message(store: Store, kind: str, binding: Binding) -> str:
    so = store.consequence("request")
    if kind == "class":
        return (f"request-derived value {store.verb} class attribute {store.text}: a class attribute is shared "
                f"by every request in the process, so {so}")
    if kind == "global":
        verb = "added to" if store.collects else "stored in"
        return (f"request-derived value {verb} module global {store.text}: a module global is shared by every "
                f"request in the process, so {so}")
    return (f"request-derived value {store.verb} {store.text}, an attribute of the module-level instance "
            f"'{store.root.id}': that one instance serves every request in the process, so {so}")


class RequestFlow:
    """Which values in one function come from the request, and what the function writes.

    Intra-procedural and flow-insensitive: a local is request-derived if any assignment gives
    it a request-derived value. A write counts as request-derived when its value is; a plain
    `=` or `setattr` also when it sits under an `if`/`while`/`for`/`match` whose condition is
    (`if request.user.is_superuser: self.readonly_fields = ()`), since the request then chooses
    what overwrites the previous value. Counters and appends under such a condition do not count.
    """

    def __init__(self, func: ast.FunctionDef | ast.AsyncFunctionDef, tainted: set[str], self_name: str | None = None,
                 tainted_attributes: frozenset[str] = frozenset()):
        """`tainted_attributes`: attributes of the method's object that other methods of its class store
        request-derived values in (`self.request = request` elsewhere makes `self.request.user` derived)."""
        self.func = func
        self.self_name = self_name
        self.names = set(tainted)
        positional = [*func.args.posonlyargs, *func.args.args]
        self._receiver = positional[0].arg if positional else None
        # (object name, attribute) -> from where on it holds request-derived values: `self.role = ...request...`
        # then `self.role` (a read before the store, `original = self.role`, reads what was there before)
        self.attributes = {(self._receiver, attr): (0, 0) for attr in tainted_attributes}
        has_source_attribute = bool(tainted_attributes)
        bindings: list[tuple[ast.expr, ast.expr]] = []
        for node in walk(func):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
                # `found[key].append(value)`: the local container now holds the value
                bindings += [(node.func.value, value) for value in [*node.args, *(k.value for k in node.keywords)]]
            if isinstance(node, ast.Assign):
                bindings += [(t, node.value) for t in node.targets]
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value is not None:
                bindings.append((node.target, node.value))
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                bindings.append((node.target, node.iter))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                bindings.append((node.optional_vars, node.context_expr))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and node is not func:
                self.names |= {p for p in parameter_names(node) if p in REQUEST_PARAMS}
            elif self._is_source(node):
                has_source_attribute = True
        self.has_sources = has_source_attribute or bool(self.names)
        if self.has_sources:
            self._propagate(bindings)

    def derived(self, expr: ast.AST | None) -> bool:
        if expr is None:
            return False
        return any((isinstance(node, ast.Name) and node.id in self.names) or self._is_source(node)
                   or (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                       and self.attributes.get((node.value.id, node.attr), (1 << 30, 0)) <= (node.lineno, node.col_offset))
                   for node in walk(expr))

    def _is_source(self, node: ast.AST) -> bool:
        """`self.request` / `self.scope` in a view or consumer method."""
        return (self.self_name is not None and isinstance(node, ast.Attribute) and node.attr in REQUEST_PARAMS
                and isinstance(node.value, ast.Name) and node.value.id == self.self_name)

    def _propagate(self, bindings: list[tuple[ast.expr, ast.expr]]) -> None:
        changed = True
        while changed:
            changed = False
            for target, value in bindings:
                names = (_bound_names(target) | self._filled_container(target)) - self.names
                attribute = _attribute_of_name(target)
                fresh = attribute is not None and attribute not in self.attributes
                if (names or fresh) and self.derived(value):
                    self.names |= names
                    if fresh:
                        self.attributes[attribute] = (target.lineno, target.col_offset)
                    changed = True

    def _filled_container(self, target: ast.expr) -> set[str]:
        """`found[key] = ...`, `found[key].append(...)`: the local `found` (not the method's own object)."""
        if not isinstance(target, ast.Subscript):
            return set()
        root = target
        while isinstance(root, (ast.Subscript, ast.Attribute)):
            root = root.value
        return {root.id} if isinstance(root, ast.Name) and root.id != self._receiver else set()

    # -- writes ----------------------------------------------------------
    def stores(self) -> Iterator[Store]:
        yield from self._block(self.func.body, False, _declared_globals(self.func))

    def self_calls(self, self_name: str) -> Iterator[ast.Call]:
        for node in walk(self.func):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == self_name):
                yield node

    def _block(self, body: list[ast.stmt], guarded: bool, globals_: set[str]) -> Iterator[Store]:
        for stmt in body:
            yield from self._statement(stmt, guarded, globals_)

    def _statement(self, stmt: ast.stmt, guarded: bool, globals_: set[str]) -> Iterator[Store]:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from self._block(stmt.body, guarded, _declared_globals(stmt))
            return
        if isinstance(stmt, ast.ClassDef):
            return
        for child in child_nodes(stmt):
            if isinstance(child, (ast.expr, ast.withitem)):
                yield from self._calls(child, guarded)
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                yield from self._targets(target, guarded or self.derived(stmt.value), globals_)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            yield from self._targets(stmt.target, guarded or self.derived(stmt.value), globals_)
        elif isinstance(stmt, ast.AugAssign):
            yield from self._targets(stmt.target, self.derived(stmt.value), globals_)
        else:
            condition = getattr(stmt, "test", None) or getattr(stmt, "iter", None) or getattr(stmt, "subject", None)
            inner = guarded or self.derived(condition)
            for name in ("body", "orelse", "finalbody"):
                yield from self._block(getattr(stmt, name, []), inner, globals_)
            for handler in getattr(stmt, "handlers", []):
                yield from self._block(handler.body, inner, globals_)
            for case in getattr(stmt, "cases", []):
                yield from self._block(case.body, inner, globals_)

    def _targets(self, target: ast.expr, derived: bool, globals_: set[str]) -> Iterator[Store]:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                yield from self._targets(element, derived, globals_)
        elif isinstance(target, ast.Starred):
            yield from self._targets(target.value, derived, globals_)
        elif isinstance(target, ast.Name):
            yield Store(target, target.id, target, [], True, derived, target.id in globals_)
        elif isinstance(target, ast.Attribute) or (isinstance(target, ast.Subscript) and not self._keyed(target)):
            yield _store(target, derived, globals_)

    def _keyed(self, target: ast.Subscript) -> bool:
        """`SITE_CACHE[host] = site`: a table keyed by the request, where each request writes its own entry."""
        while isinstance(target, ast.Subscript):
            if self.derived(target.slice):
                return True
            target = target.value
        return False

    def _calls(self, expr: ast.AST, guarded: bool) -> Iterator[Store]:
        for call in walk(expr):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            values = [*call.args, *(k.value for k in call.keywords)]
            if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
                keyed_receiver = isinstance(func.value, ast.Subscript) and self._keyed(func.value)
                if keyed_receiver or (func.attr in KEYED_MUTATORS and call.args and self.derived(call.args[0])):
                    continue
                store = _store(func.value, any(map(self.derived, values)), set())
                store.collects = True
                yield store
            elif _is_setattr(func) and len(call.args) == 3:
                obj, attr, value = call.args
                store = _store(obj, guarded or self.derived(value), set())
                label = attr.value if isinstance(attr, ast.Constant) and isinstance(attr.value, str) else "<name>"
                store.node, store.text = call, f"{store.text}.{label}"
                store.attrs = [*store.attrs, label]
                yield store


def _store(target: ast.expr, derived: bool, globals_: set[str]) -> Store:
    """A write to an attribute/subscript chain, reported at its outermost attribute (`self.x` for `self.x[k]`)."""
    node = target
    while isinstance(node, ast.Subscript):
        node = node.value
    reported = node
    attrs = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
        node = node.value
    root = node if isinstance(node, ast.Name) or _is_type_call(node) else None
    declared = isinstance(root, ast.Name) and root.id in globals_
    return Store(reported, ast.unparse(reported), root, attrs[::-1], False, derived, declared)


_BINDERS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_WRITERS = (ast.Attribute, ast.Subscript, ast.Call)


def _written_chain(node: ast.AST) -> tuple[ast.expr | None, list[str]] | None:
    """The root and attribute names of the chain `node` writes through, if it writes: an assigned
    attribute or item, the receiver of an `append`-like call, the object given to `setattr` (together a
    superset of what `RequestFlow.stores` reports)."""
    if isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load):
        written = node
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
        written = node.func.value
    elif isinstance(node, ast.Call) and _is_setattr(node.func) and node.args:
        written = node.args[0]
    else:
        return None
    attrs = []
    while isinstance(written, (ast.Attribute, ast.Subscript)):
        if isinstance(written, ast.Attribute):
            attrs.append(written.attr)
        written = written.value
    return written, attrs[::-1]


def _writes_to_self(method: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Cheap pass before a class is judged: does this method write through `self` at all?"""
    self_name = _self_name(method)
    if self_name is None:
        return False
    for node in walk(method):
        chain = _written_chain(node)
        if chain is not None and isinstance(chain[0], ast.Name) and chain[0].id == self_name \
                and chain[1][:1] != ["__class__"]:
            return True
    return False


def _may_write_shared(func, self_name: str | None, cls_name: str | None) -> bool:
    """Cheap pass before the data flow, in one walk: could a write land outside the function and its
    instance? Mirrors `_shared_target`: a `global`, the class (`cls`, `self.__class__`, `type(self)`),
    or a name that is not local."""
    local = set(parameter_names(func))
    roots: list[str] = []
    for node in walk(func):
        kind = node.__class__
        if kind is ast.Name or kind in _BINDERS:
            local.update(_bound_here(node, func))
            continue
        if kind is ast.Global:  # nested functions' too
            return True
        chain = _written_chain(node) if kind in _WRITERS else None
        if chain is None:
            continue
        root, attrs = chain
        if _is_type_call(root):
            return True
        if isinstance(root, ast.Name):
            if root.id == self_name:
                if attrs[:1] == ["__class__"]:
                    return True
            elif root.id == cls_name:
                return True
            else:
                roots.append(root.id)
    return any(root not in local for root in roots)


def _may_serve_requests(method: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Cheap filter before resolving bases: could any kind of holder treat this method as a request path?"""
    return (method.name in MIDDLEWARE_METHODS | AUTHENTICATOR_METHODS
            or not REQUEST_PARAMS.isdisjoint(parameter_names(method)[1:])) and method.name not in CONSTRUCTION


def _attribute_of_name(target: ast.expr) -> tuple[str, str] | None:
    """`obj.attr` as (obj, attr), for an attribute assigned on a plain name."""
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        return target.value.id, target.attr
    return None


def _bound_names(target: ast.expr) -> set[str]:
    """Names an assignment target binds: `a`, `a, *b`; not `self` in `self.x`."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*map(_bound_names, target.elts))
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    return set()


def _with_stored_attributes(methods: dict[str, ast.FunctionDef], paths: dict[ast.FunctionDef, set[str]]
                            ) -> dict[ast.FunctionDef, tuple[set[str], frozenset[str]]]:
    """Each request-path method with its request-derived parameters and the attributes of `self` that other
    such methods store request-derived values in (`self.request = request` in one, `self.user =
    self.request.user` in another); a method reading such an attribute (an admin's `list_display` callable,
    called with the object only) runs during the request too."""
    own: dict[ast.FunctionDef, set[str]] = {}
    for method, tainted in paths.items():
        self_name = _self_name(method)
        own[method] = {store.attrs[0] for store in RequestFlow(method, tainted).stores() if store.derived
                       and isinstance(store.root, ast.Name) and store.root.id == self_name and store.attrs}
    every = frozenset().union(*own.values())
    found = {method: (tainted, frozenset().union(*(a for other, a in own.items() if other is not method)))
             for method, tainted in paths.items()}
    for name, method in methods.items():
        if method not in found and name not in CONSTRUCTION and every & _self_attributes_read(method):
            found[method] = (set(), every)
    return found


def _self_attributes_read(method: ast.FunctionDef) -> set[str]:
    self_name = _self_name(method)
    return {node.attr for node in walk(method) if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Name) and node.value.id == self_name}


def _request_paths(methods: dict[str, ast.FunctionDef], holder: Holder) -> dict[ast.FunctionDef, set[str]]:
    """Each method that runs during a request, with its request-derived parameters.

    Entry methods have all their parameters request-derived; a helper called as
    `self.helper(...)` from them has the parameters that receive request data.
    """
    tainted: dict[str, set[str]] = {}
    pending = []
    for name, method in methods.items():
        params = parameter_names(method)
        if name not in CONSTRUCTION and (name in holder.entry_methods or holder.entry_params & set(params[1:])):
            tainted[name] = set(params[1:])
            pending.append(name)
    while pending:
        caller = methods[pending.pop()]
        flow = RequestFlow(caller, tainted[caller.name])
        for call in flow.self_calls(_self_name(caller)):
            callee = methods.get(call.func.attr)
            if callee is None or callee.name in CONSTRUCTION:
                continue
            received = _receiving_params(callee, call, flow)
            if not received <= tainted.get(callee.name, set()):
                tainted[callee.name] = tainted.get(callee.name, set()) | received
                pending.append(callee.name)
    return {methods[name]: names for name, names in tainted.items() if names}


def _receiving_params(callee, call: ast.Call, flow: RequestFlow) -> set[str]:
    params = parameter_names(callee)[1:]
    if any(isinstance(a, ast.Starred) and flow.derived(a) for a in call.args) \
            or any(k.arg is None and flow.derived(k.value) for k in call.keywords):
        return set(params)
    received = {params[i] for i, arg in enumerate(call.args) if i < len(params) and flow.derived(arg)}
    received |= {k.arg for k in call.keywords if k.arg in params and flow.derived(k.value)}
    return received


def _read_module(module: ModuleInfo) -> ModuleFacts:
    facts = ModuleFacts()
    classes = set(module.classes)
    for stmt in _module_level_statements(module.tree):
        if isinstance(stmt, ast.ClassDef):
            facts.bindings.setdefault(stmt.name, stmt)
            if any(isinstance(d, ast.Call) and _is_admin_register(d.func, module) for d in stmt.decorator_list):
                facts.registered.add(stmt.name)
            for item in stmt.body:
                for target, value in _assignments(item):
                    for cls in _instantiated(value, classes):
                        facts.instances.setdefault(cls, f"as class attribute '{stmt.name}.{target}'")
        for target, value in _assignments(stmt):
            facts.bindings.setdefault(target, value)
            for cls in _instantiated(value, classes):
                facts.instances.setdefault(cls, f"at module level as '{target}'")
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Call) and _is_admin_register(call.func, module):
            admin = call.args[1:2] or [k.value for k in call.keywords if k.arg == "admin_class"]
            facts.registered |= {a.id for a in admin if isinstance(a, ast.Name)}
    return facts


def _assignments(stmt: ast.stmt) -> Iterator[tuple[str, ast.expr]]:
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            if isinstance(target, ast.Name):
                yield target.id, stmt.value
    elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        yield stmt.target.id, stmt.value


def _instantiated(value: ast.expr, classes: set[str]) -> Iterator[str]:
    """Classes of this module called in a module-level value (`auth = MyAuth()`, `[MyAuth()]`)."""
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Lambda, ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)):
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in classes:
            yield node.func.id
        pending.extend(child_nodes(node))


def _django_middleware_shape(lineage: list[ast.ClassDef]) -> bool:
    """New-style middleware takes `get_response` and defines `__call__`; old-style defines `process_*`."""
    methods = {item.name: item for cls in lineage for item in cls.body
               if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
    init = methods.get("__init__")
    if init is not None and "get_response" in parameter_names(init) and ("__call__" in methods or "__acall__" in methods):
        return True
    return bool(methods.keys() & (MIDDLEWARE_METHODS - {"__call__", "__acall__"}))


def _asgi_shape(lineage: list[ast.ClassDef]) -> bool:
    """`__call__(self, scope, receive, send)`, or Channels 2's `__call__(self, scope)`."""
    for cls in lineage:
        for item in cls.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == "__call__":
                return parameter_names(item)[1:2] == ["scope"]
    return False


def _self_name(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    if _decorated(func, "staticmethod") or _decorated(func, "classmethod"):
        return None
    positional = [*func.args.posonlyargs, *func.args.args]
    return positional[0].arg if positional else None


def _decorated(func, name: str) -> bool:
    return any(_name_of(d) == name for d in func.decorator_list)


def _declared_globals(func) -> set[str]:
    """Names a function declares `global`, not counting nested functions."""
    names: set[str] = set()
    pending = list(func.body)
    while pending:  # `global` is a statement: only statement blocks need looking into
        node = pending.pop()
        if isinstance(node, ast.Global):
            names.update(node.names)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            pending.extend(statement_children(node))
    return names


def _local_names(func) -> set[str]:
    names = set(parameter_names(func))
    for node in walk(func):
        names.update(_bound_here(node, func))
    return names - _declared_globals(func)


def _bound_here(node: ast.AST, func) -> Iterable[str]:
    """Names `node` binds in `func`'s scope or a nested one: targets, imports, nested parameters."""
    if isinstance(node, ast.Name):
        return (node.id,) if isinstance(node.ctx, (ast.Store, ast.Del)) else ()
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and node is not func:
        return parameter_names(node)
    return ()


def _mentions_request(node: ast.AST, ctx) -> bool:
    """Cheap exact pre-check: every source is a name or attribute spelt `request` or `scope`."""
    text = "\n".join(ctx.lines[node.lineno - 1:node.end_lineno])
    return any(name in text for name in REQUEST_PARAMS)


def _nested_in_function(parents: list[ast.AST]) -> bool:
    """Whether the nearest enclosing scope is a function (the enclosing function's check covers it)."""
    for parent in reversed(parents):
        if isinstance(parent, ast.ClassDef):
            return False
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


def _is_admin_register(func: ast.expr, module: ModuleInfo) -> bool:
    """`admin.register`, `admin.site.register`, `my_site.register`: not any registry's `register`."""
    text = module.imports.qualify(func) or ast.unparse(func)
    return _name_of(func) == "register" and ("admin" in text or "site" in text)


def _is_setattr(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "setattr") or (
        isinstance(func, ast.Attribute) and func.attr == "__setattr__"
        and isinstance(func.value, ast.Name) and func.value.id == "object")


def _is_type_call(node: ast.expr | None) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type"
            and len(node.args) == 1)


def _name_of(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _camel_case(name: str) -> bool:
    return name[:1].isupper() and not name.isupper()
