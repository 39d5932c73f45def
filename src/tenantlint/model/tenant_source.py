"""Whether the project takes the active tenant from the request's user.

A middleware named in MIDDLEWARE that sets `request.tenant` (or `request.company`, ...) from the
user (`request.company = request.user.company`), directly or through a project helper it hands
`request.user` (`set_country(request.user, request)` setting `request.tenant = user.profile.country`),
serves every user in their own tenant: a credential of another tenant names no other tenant's user.
Files are read and parsed here, never imported.
"""

from __future__ import annotations

import ast
import os

from tenantlint.model.evidence import Evidence
from tenantlint.model.settings import SettingsView
from tenantlint.model.settings_values import Seq


def tenant_from_user(views: list[SettingsView], python_files: tuple[str, ...], tenant_words: frozenset[str],
                     tree_of) -> Evidence | None:
    """The first assignment of the request's tenant from its user in the project's middleware;
    `tree_of(path)` is the parsed file or None."""
    middleware = _middleware_modules(views)
    if not middleware:
        return None
    by_module = _modules(python_files)
    search = _Search(tenant_words, by_module, tree_of)
    for module in middleware:
        path = by_module.get(module)
        tree = tree_of(path) if path else None
        if tree is None:
            continue
        found = search.in_module(tree, path)
        if found is not None:
            return found
    return None


def _middleware_modules(views: list[SettingsView]) -> list[str]:
    modules: dict[str, None] = {}
    for view in views:
        middleware = view.get("MIDDLEWARE")
        if isinstance(middleware, Seq):
            modules.update(dict.fromkeys(item.value.rpartition(".")[0] for item in middleware.strings()))
    return list(modules)


def _modules(python_files: tuple[str, ...]) -> dict[str, str]:
    """Every dotted suffix of each file's module path (`core.middleware`, `etools.applications.core.middleware`)
    to the file: settings name modules relative to a source root this does not need to know."""
    found: dict[str, str] = {}
    for path in python_files:
        parts = path[:-3].split(os.sep)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        for start in range(len(parts) - 1, 0, -1):
            found.setdefault(".".join(parts[start:]), path)
    return found


class _Search:
    def __init__(self, tenant_words: frozenset[str], by_module: dict[str, str], tree_of):
        self.tenant_words = tenant_words
        self.by_module = by_module
        self.tree_of = tree_of

    def in_module(self, tree: ast.Module, path: str) -> Evidence | None:
        imported = _imported_functions(tree)
        for function in _functions(tree):
            found = self.in_function(function, path, {"request"}, {"user"})
            if found is not None:
                return found
            for call in ast.walk(function):
                helper = self._helper(call, imported)
                if helper is not None:
                    found = self._in_helper(call, *helper)
                    if found is not None:
                        return found
        return None

    def in_function(self, function, path: str, requests: set[str], users: set[str]) -> Evidence | None:
        for node in ast.walk(function):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                        and target.value.id in requests and self._is_tenant(target.attr)
                        and _mentions_user(node.value, requests, users)):
                    text = f"{target.value.id}.{target.attr} = {ast.unparse(node.value)}"
                    return Evidence(text if len(text) <= 100 else text[:97] + "...", path, node.lineno)
        return None

    def _is_tenant(self, attribute: str) -> bool:
        lowered = attribute.lower()
        return "tenant" in lowered or lowered in self.tenant_words

    def _helper(self, call: ast.AST, imported: dict[str, str]) -> tuple[ast.FunctionDef, str] | None:
        """A project function imported by name and handed `request.user`."""
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in imported):
            return None
        if not any(_is_request_user(a) for a in [*call.args, *(k.value for k in call.keywords)]):
            return None
        module, _, name = imported[call.func.id].rpartition(".")
        path = self.by_module.get(module)
        tree = self.tree_of(path) if path else None
        function = next((f for f in (tree.body if tree else ()) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                         and f.name == name), None)
        return (function, path) if function is not None else None

    def _in_helper(self, call: ast.Call, function, path: str) -> Evidence | None:
        parameters = [a.arg for a in function.args.posonlyargs + function.args.args]
        users, requests = set(), set()
        for index, argument in enumerate(call.args[:len(parameters)]):
            if _is_request_user(argument):
                users.add(parameters[index])
            elif isinstance(argument, ast.Name) and argument.id == "request":
                requests.add(parameters[index])
        for keyword in call.keywords:
            if keyword.arg and _is_request_user(keyword.value):
                users.add(keyword.arg)
            elif keyword.arg and isinstance(keyword.value, ast.Name) and keyword.value.id == "request":
                requests.add(keyword.arg)
        return self.in_function(function, path, requests, users) if requests and users else None


def _functions(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _imported_functions(tree: ast.Module) -> dict[str, str]:
    return {alias.asname or alias.name: f"{node.module}.{alias.name}" for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module and not node.level for alias in node.names}


def _is_request_user(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "user"
            and isinstance(node.value, ast.Name) and node.value.id == "request")


def _mentions_user(value: ast.AST, requests: set[str], users: set[str]) -> bool:
    for node in ast.walk(value):
        if isinstance(node, ast.Name) and node.id in users:
            return True
        if isinstance(node, ast.Attribute) and node.attr == "user" and isinstance(node.value, ast.Name) \
                and node.value.id in requests:
            return True
    return False
