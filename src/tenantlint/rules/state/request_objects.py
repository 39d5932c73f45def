"""Which objects serve requests (Django middleware, ASGI apps, views and authenticators by their shape,
and their request paths) and what their methods write: to self, to the class, to module state (TL101)."""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from tenantlint.diagnostics import Severity
from tenantlint.model.project import ModuleInfo, module_level_statements
from tenantlint.rules.state.request_flow import (
    MUTATORS,
    REQUEST_PARAMS,
    RequestFlow,
    Store,
    declared_globals,
    is_setattr,
    is_type_call,
)
from tenantlint.trees import child_nodes, parameter_names, walk

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
    elif isinstance(node, ast.Call) and is_setattr(node.func) and node.args:
        written = node.args[0]
    else:
        return None
    attrs = []
    while isinstance(written, (ast.Attribute, ast.Subscript)):
        if isinstance(written, ast.Attribute):
            attrs.append(written.attr)
        written = written.value
    return written, attrs[::-1]


def writes_to_self(method: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Cheap pass before a class is judged: does this method write through `self` at all?"""
    self_name = name_of_self(method)
    if self_name is None:
        return False
    for node in walk(method):
        chain = _written_chain(node)
        if chain is not None and isinstance(chain[0], ast.Name) and chain[0].id == self_name \
                and chain[1][:1] != ["__class__"]:
            return True
    return False


def may_write_shared(func, self_name: str | None, cls_name: str | None) -> bool:
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
        if is_type_call(root):
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


def may_serve_requests(method: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Cheap filter before resolving bases: could any kind of holder treat this method as a request path?"""
    return (method.name in MIDDLEWARE_METHODS | AUTHENTICATOR_METHODS
            or not REQUEST_PARAMS.isdisjoint(parameter_names(method)[1:])) and method.name not in CONSTRUCTION


def with_stored_attributes(methods: dict[str, ast.FunctionDef], paths: dict[ast.FunctionDef, set[str]]
                            ) -> dict[ast.FunctionDef, tuple[set[str], frozenset[str]]]:
    """Each request-path method with its request-derived parameters and the attributes of `self` that other
    such methods store request-derived values in (`self.request = request` in one, `self.user =
    self.request.user` in another); a method reading such an attribute (an admin's `list_display` callable,
    called with the object only) runs during the request too."""
    own: dict[ast.FunctionDef, set[str]] = {}
    for method, tainted in paths.items():
        self_name = name_of_self(method)
        own[method] = {store.attrs[0] for store in RequestFlow(method, tainted).stores() if store.derived
                       and isinstance(store.root, ast.Name) and store.root.id == self_name and store.attrs}
    # only the attributes a method reads can make its values derived: each method gets those of them that
    # another method stores (counted, so that a class of thousands of methods stays linear)
    storers = Counter(attribute for attributes in own.values() for attribute in attributes)
    found = {}
    for method, tainted in paths.items():
        found[method] = (tainted, frozenset(a for a in _self_attributes_read(method)
                                            if storers[a] > (a in own[method])))
    for name, method in methods.items():
        if method not in found and name not in CONSTRUCTION:
            stored = frozenset(a for a in _self_attributes_read(method) if storers[a])
            if stored:
                found[method] = (set(), stored)
    return found


def _self_attributes_read(method: ast.FunctionDef) -> set[str]:
    self_name = name_of_self(method)
    return {node.attr for node in walk(method) if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Name) and node.value.id == self_name}


def request_paths(methods: dict[str, ast.FunctionDef], holder: Holder) -> dict[ast.FunctionDef, set[str]]:
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
        for call in flow.self_calls(name_of_self(caller)):
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


def read_module(module: ModuleInfo) -> ModuleFacts:
    facts = ModuleFacts()
    classes = set(module.classes)
    for stmt in module_level_statements(module.tree):
        if isinstance(stmt, ast.ClassDef):
            facts.bindings.setdefault(stmt.name, stmt)
            if any(isinstance(d, ast.Call) and _is_admin_register(d.func, module) for d in stmt.decorator_list):
                facts.registered.add(stmt.name)
            for item in stmt.body:
                for target, value in assignments(item):
                    for cls in _instantiated(value, classes):
                        facts.instances.setdefault(cls, f"as class attribute '{stmt.name}.{target}'")
        for target, value in assignments(stmt):
            facts.bindings.setdefault(target, value)
            for cls in _instantiated(value, classes):
                facts.instances.setdefault(cls, f"at module level as '{target}'")
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Call) and _is_admin_register(call.func, module):
            admin = call.args[1:2] or [k.value for k in call.keywords if k.arg == "admin_class"]
            facts.registered |= {a.id for a in admin if isinstance(a, ast.Name)}
    return facts


def assignments(stmt: ast.stmt) -> Iterator[tuple[str, ast.expr]]:
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


def django_middleware_shape(lineage: list[ast.ClassDef]) -> bool:
    """New-style middleware takes `get_response` and defines `__call__`; old-style defines `process_*`."""
    methods = {item.name: item for cls in lineage for item in cls.body
               if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
    init = methods.get("__init__")
    if init is not None and "get_response" in parameter_names(init) and ("__call__" in methods or "__acall__" in methods):
        return True
    return bool(methods.keys() & (MIDDLEWARE_METHODS - {"__call__", "__acall__"}))


def asgi_shape(lineage: list[ast.ClassDef]) -> bool:
    """`__call__(self, scope, receive, send)`, or Channels 2's `__call__(self, scope)`."""
    for cls in lineage:
        for item in cls.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == "__call__":
                return parameter_names(item)[1:2] == ["scope"]
    return False


def name_of_self(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    if decorated(func, "staticmethod") or decorated(func, "classmethod"):
        return None
    positional = [*func.args.posonlyargs, *func.args.args]
    return positional[0].arg if positional else None


def decorated(func, name: str) -> bool:
    return any(name_of(d) == name for d in func.decorator_list)


def names_local_to(func) -> set[str]:
    names = set(parameter_names(func))
    for node in walk(func):
        names.update(_bound_here(node, func))
    return names - declared_globals(func)


def _bound_here(node: ast.AST, func) -> Iterable[str]:
    """Names `node` binds in `func`'s scope or a nested one: targets, imports, nested parameters."""
    if isinstance(node, ast.Name):
        return (node.id,) if isinstance(node.ctx, (ast.Store, ast.Del)) else ()
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and node is not func:
        return parameter_names(node)
    return ()


def mentions_request(node: ast.AST, ctx) -> bool:
    """Cheap exact pre-check: every source is a name or attribute spelt `request` or `scope`."""
    text = "\n".join(ctx.lines[node.lineno - 1:node.end_lineno])
    return any(name in text for name in REQUEST_PARAMS)


def nested_in_function(parents: list[ast.AST]) -> bool:
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
    return name_of(func) == "register" and ("admin" in text or "site" in text)


def name_of(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def camel_case(name: str) -> bool:
    return name[:1].isupper() and not name.isupper()


MIDDLEWARE_METHODS = frozenset({
    "__call__", "__acall__", "process_request", "process_view", "process_response",
    "process_exception", "process_template_response",
})
AUTHENTICATOR_METHODS = frozenset({
    "authenticate", "authenticate_header", "authenticate_credentials", "enforce_csrf",
    "get_user", "get_header", "get_raw_token", "get_validated_token",
})

# Methods that build the object rather than serve a request.
CONSTRUCTION = frozenset({"__init__", "__new__", "__init_subclass__", "__set_name__", "__class_getitem__"})


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
class ModuleFacts:
    """Module-level bindings, and the classes of this module that have one shared instance."""

    bindings: dict[str, ast.AST] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)
    registered: set[str] = field(default_factory=set)
