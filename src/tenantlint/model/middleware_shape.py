"""Whether a project's middleware fits what Django calls it with.

Django builds each MIDDLEWARE entry once with `entry(get_response)` and calls the result with the
request; a `MiddlewareMixin` subclass gets its hooks called with fixed arguments. A middleware that was
commented out because its signature was wrong would fail every request with a TypeError once put back:
this says so, read from the syntax trees of the project's own classes and functions.
"""

from __future__ import annotations

import ast

from tenantlint.model.known import MIDDLEWARE_MIXIN
from tenantlint.model.project import Project

# the positional arguments Django passes to each hook of a MiddlewareMixin subclass, `self` aside
_HOOKS = {"process_request": 1, "process_view": 4, "process_response": 2, "process_exception": 2,
          "process_template_response": 2}
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def middleware_problem(project: Project, dotted: str, near: str) -> str | None:
    """Why Django could not build or call the middleware `dotted`, or None when it fits or cannot be told
    (a class of an installed package, a name the project does not define)."""
    found = project.resolve_class(dotted, near)
    if found is not None:
        return _class_problem(project, found, near)
    module_name, _, name = dotted.rpartition(".")
    path = project.find_module_path(module_name, near) if module_name else None
    module = project.module_at(path) if path else None
    if module is None:
        return None
    factory = next((s for s in module.tree.body if isinstance(s, _FUNCTIONS) and s.name == name), None)
    if factory is None:
        return None
    if not _accepts(factory, 1):
        return f"{name}() does not take the one argument (get_response) Django builds it with"
    inner = [s for s in factory.body if isinstance(s, _FUNCTIONS)]
    if len(inner) == 1 and not _accepts(inner[0], 1):
        return f"the {inner[0].name}() it returns does not take the one argument (the request) Django calls it with"
    return None


def _class_problem(project: Project, found, near: str) -> str | None:
    ancestors = project.ancestors(found.qualname, near)
    methods: dict[str, ast.AST] = {}
    chain, complete = [found], True
    while chain:
        info = chain.pop(0)
        for item in info.node.body:
            if isinstance(item, _FUNCTIONS):
                methods.setdefault(item.name, item)
        for base in info.bases:
            resolved = project.resolve_class(base, info.module.path)
            if resolved is not None:
                chain.append(resolved)
            elif base not in ("object", "builtins.object"):
                complete = False  # an installed base class: its methods are not in view
    mixin = MIDDLEWARE_MIXIN in ancestors
    name = found.node.name
    init = methods.get("__init__")
    if init is not None and not _accepts(init, 1, bound=True):
        return f"{name}.__init__ does not take the one argument (get_response) Django builds it with"
    call = methods.get("__call__")
    if call is not None and not _accepts(call, 1, bound=True):
        return f"{name}.__call__ does not take the one argument (the request) Django calls it with"
    if complete and not mixin:
        if init is None:
            return f"{name} has no __init__ taking get_response"
        if call is None:
            return f"{name} has no __call__: Django cannot call it with the request"
    if mixin:
        for hook, count in _HOOKS.items():
            method = methods.get(hook)
            if method is not None and not _accepts(method, count, bound=True):
                return f"{name}.{hook} does not take the {count} argument{'s' * (count > 1)} Django passes it"
    return None


def _accepts(function: ast.AST, count: int, bound: bool = False) -> bool:
    """Whether `function` can be called with `count` positional arguments (after `self` when `bound`)."""
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args][1 if bound else 0:]
    required = len(positional) - len(arguments.defaults)
    required_keywords = sum(default is None for default in arguments.kw_defaults)
    return required <= count and (len(positional) >= count or arguments.vararg is not None) and not required_keywords
