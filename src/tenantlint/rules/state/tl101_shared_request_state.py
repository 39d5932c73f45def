"""TL101 shared-request-state: request data kept on an object that serves more than one request."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterator

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
from tenantlint.model.project import ClassInfo, ModuleInfo
from tenantlint.rules.base import Rule, register
from tenantlint.rules.state.request_flow import REQUEST_PARAMS, RequestFlow, Store, is_type_call
from tenantlint.rules.state.request_objects import (
    AUTHENTICATOR_METHODS,
    CONSTRUCTION,
    MIDDLEWARE_METHODS,
    Holder,
    ModuleFacts,
    asgi_shape,
    assignments,
    camel_case,
    decorated,
    django_middleware_shape,
    may_serve_requests,
    may_write_shared,
    mentions_request,
    name_of,
    name_of_self,
    names_local_to,
    nested_in_function,
    read_module,
    request_paths,
    with_stored_attributes,
    writes_to_self,
)
from tenantlint.rules.state.state_plan import StatePlan, StatePlanner, module_names
from tenantlint.trees import parameter_names, walk

ASGI_PARAMS = ("scope", "receive", "send")
CONTAINER_FACTORIES = frozenset({"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "Counter"})
CLASS_FACTORIES = frozenset({"get_user_model", "get_model"})


@dataclass
class StateFix(Fix):
    """A codemod fix carrying the plan detection made: every access of the attribute to rewrite."""

    plan: StatePlan | None = None


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
        elif not nested_in_function(ctx.parents):
            yield from self._check_function(node, ctx)

    # -- self.<attr> in objects that serve many requests --------------------
    def _check_class(self, node: ast.ClassDef, ctx) -> Iterator[Diagnostic]:
        methods = {
            item.name: item for item in node.body
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and name_of_self(item) is not None
        }
        if not any(may_serve_requests(method) for method in methods.values()):
            return
        if not any(writes_to_self(method) for method in methods.values()):
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
        paths = with_stored_attributes(methods, request_paths(methods, holder))
        for method, (tainted, stored) in paths.items():
            self_name = name_of_self(method)
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
        if channels or asgi_shape(nodes):
            kind = "Channels middleware" if channels else "ASGI application"
            return Holder(f"{kind} '{name}'", "one instance serves every connection in the process",
                          Severity.ERROR, frozenset({"__call__"}), frozenset(ASGI_PARAMS), unit="connection",
                          kind="asgi")
        if (any(is_django_middleware(a) for a in ancestors) or ancestors & set(self.options.middleware_bases)
                or django_middleware_shape(nodes)):
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
        self_name = name_of_self(node) if owner else None
        params = parameter_names(node)
        tainted = {p for p in params if p in REQUEST_PARAMS}
        if owner and node.name in MIDDLEWARE_METHODS | AUTHENTICATOR_METHODS:
            tainted |= set(params[1:])
        if not tainted and not mentions_request(node, ctx):
            return
        cls_name = params[0] if owner and decorated(node, "classmethod") and params else None
        if not may_write_shared(node, self_name, cls_name):
            return  # every write stays in the function or on `self`: no data flow needed
        flow = RequestFlow(node, tainted, self_name)
        if not flow.has_sources:
            return
        stores = [store for store in flow.stores() if store.derived]
        if not stores:
            return
        local_names = names_local_to(node)
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
            return self._on_class(store, attrs, own_class, ctx) if is_type_call(root) and attrs else None
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
            containers = {name for item in body for name, value in assignments(item)
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
        return Binding("class", None, module) if camel_case(attr) else None

    def _value_kind(self, value: ast.expr, module: ModuleInfo, ctx) -> str:
        """local (thread-local, context variable), container, class, instance or global."""
        if isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)):
            return "container"
        if not isinstance(value, ast.Call):
            return "global"
        dotted = module.imports.qualify(value.func)
        if dotted and ctx.project.ancestors(dotted, module.path) & THREAD_LOCALS:
            return "local"
        callee = short(dotted or name_of(value.func))
        if callee in CONTAINER_FACTORIES:
            return "container"
        if callee in CLASS_FACTORIES:
            return "class"
        return "instance" if camel_case(callee) else "global"

    def _module_facts(self, module: ModuleInfo) -> ModuleFacts:
        facts = self._facts.get(module.path)
        if facts is None:
            facts = self._facts[module.path] = read_module(module)
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


