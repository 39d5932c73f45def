"""Which users a function looks up from a token: the user model, its managers, lookups by a token's
claims, and helpers that do the lookup for it (the second part of `TokenFunction`)."""

from __future__ import annotations

import ast
import re
from functools import cached_property

from tenantlint.model.known import GET_OBJECT_OR_404, GET_USER_MODEL, SYNC_TO_ASYNC, USER_MODELS
from tenantlint.model.project import ModuleInfo
from tenantlint.rules.tokens.token_sources import TokenSources, class_chain, identifier, methods, target_names
from tenantlint.trees import per_tree, walk


class UserLookups(TokenSources):
    """The user lookups of a function read for tokens."""

    @cached_property
    def verdict_names(self) -> set[str]:
        """Locals holding the outcome of a tenant check: `ok = claim == connection.schema_name`."""
        return self._closure(set(), lambda value, names: bool(self.tenant_comparisons(value)) or any(
            isinstance(n, ast.Call) and self.callee_kind(n) == "checks" for n in walk(value)))

    @cached_property
    def _user_model_names(self) -> set[str]:
        names = set(_module_user_model_names(self.module))
        for statement in self.nodes:
            if isinstance(statement, ast.Assign) and self._is_user_model_call(statement.value):
                names |= {n for t in statement.targets for n in target_names(t)}
        return names

    def _is_user_model_call(self, node: ast.AST) -> bool:
        return _is_user_model_call(node, self.qualify)

    def is_user_model(self, node: ast.AST) -> bool:
        if self._is_user_model_call(node):
            return True
        name = identifier(node)
        if name is None:
            return False
        if name in self._user_model_names or _USER_MODEL_NAME.search(name):
            return True
        dotted = self.qualify(node)
        if dotted is None or not name[:1].isupper():
            return False
        return dotted in USER_MODELS or bool(self.ctx.project.ancestors(dotted, near=self.module.path) & USER_MODELS)

    def manager_chain(self, node: ast.AST) -> list[ast.Call] | None:
        """The calls of `User.objects.filter(...).first` style chains rooted at a user model's manager."""
        calls: list[ast.Call] = []
        while True:
            if isinstance(node, ast.Call):
                calls.append(node)
                node = node.func
            elif isinstance(node, ast.Attribute):
                if node.attr in _MANAGERS and self.is_user_model(node.value):
                    return calls
                node = node.value
            else:
                return None

    def _unwrap_sync(self, callee: ast.expr) -> ast.expr:
        """`User.objects.get` in `sync_to_async(User.objects.get)(...)`."""
        if isinstance(callee, ast.Call) and callee.args:
            name = identifier(callee.func)
            if self.qualify(callee.func) in SYNC_TO_ASYNC or name in {"sync_to_async", "database_sync_to_async"}:
                return callee.args[0]
        return callee

    def _lookup_calls(self, call: ast.Call) -> list[ast.Call] | None:
        """The calls whose arguments choose the user, when `call` looks a user up; else None."""
        target = self._unwrap_sync(call.func)
        chain = self.manager_chain(target)
        if chain is not None:
            return [call, *chain]
        name = identifier(target)
        shortcut = self.qualify(target) in GET_OBJECT_OR_404 or name in {"get_object_or_404", "aget_object_or_404"}
        if shortcut and call.args:
            first = call.args[0]
            return [call] if self.is_user_model(first) or self.manager_chain(first) is not None else None
        return [call] if self.callee_kind(call) == "looks_up" else None

    @cached_property
    def lookups(self) -> list[ast.Call]:
        """User lookups whose arguments come from the token; the outermost call of a chain only."""
        found: dict[int, tuple[ast.Call, list[ast.Call]]] = {}
        for node in self.nodes:
            if isinstance(node, ast.Call):
                calls = self._lookup_calls(node)
                if calls and any(self.derives(arg) for c in calls for arg in _arguments(c)):
                    found[id(node)] = (node, calls)
        inner = {id(c) for _, calls in found.values() for c in calls[1:]}
        return [call for key, (call, _) in found.items() if key not in inner]

    def callee_kind(self, call: ast.Call) -> str | None:
        """'checks' (a helper comparing the claim), 'looks_up' (a user lookup) or None, for a called function."""
        target = self._unwrap_sync(call.func)
        name = identifier(target)
        if name is None:
            return None
        found = self._resolve_callee(target)
        if found == "skip":
            return None
        if found is not None and self.depth == 0:
            function, module, owner, is_method = found
            return self._helper_kind(function, module, owner, self._tainted_parameters(call, function, is_method))
        return "looks_up" if _USER_LOOKUP_NAME.match(name) else None

    def _resolve_callee(self, target: ast.expr):
        """(function, module, owning class, is a method) for a helper defined in the project, 'skip', or None."""
        if isinstance(target, ast.Name):
            function = _module_function(self.module, target.id)
            if function is not None:
                return function, self.module, None, False
            dotted = self.qualify(target)
            module = self.ctx.project.module(dotted.rpartition(".")[0], near=self.module.path) if dotted else None
            function = _module_function(module, dotted.rpartition(".")[2]) if module is not None else None
            return (function, module, None, False) if function is not None else None
        if not isinstance(target, ast.Attribute) or self.owner is None:
            return None
        receiver = target.value
        from_super = isinstance(receiver, ast.Call) and identifier(receiver.func) == "super"
        if not (from_super or (isinstance(receiver, ast.Name) and receiver.id in {"self", "cls"})):
            return None
        chain = class_chain(self.ctx, self.module, self.owner)
        for holder in chain[1:] if from_super else chain:
            method = methods(holder).get(target.attr)
            if method is not None:
                if target.attr == "get_user" and self._is_authenticator(holder):
                    return "skip"  # an override: checked where it is defined
                is_static = any(identifier(d) == "staticmethod" for d in method.decorator_list)
                return method, holder.module, holder.node, not is_static
        return None

    def _tainted_parameters(self, call: ast.Call, function, is_method: bool) -> frozenset[str]:
        params = [a.arg for a in function.args.posonlyargs + function.args.args][1 if is_method else 0:]
        names = set()
        for index, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                break
            if index < len(params) and self.derives(arg):
                names.add(params[index])
        names |= {kw.arg for kw in call.keywords if kw.arg and self.derives(kw.value)}
        return frozenset(names)

    def _helper_kind(self, function, module: ModuleInfo, owner, tainted: frozenset[str]) -> str | None:
        key = (id(function), tainted)
        if key not in self._helper_kinds:
            reading = type(self)(function, self.ctx, module, owner, depth=1, tainted=tainted)
            if reading.has_tenant_check:
                kind = "checks"
            elif reading.lookups or _USER_LOOKUP_NAME.match(function.name):
                kind = "looks_up"
            else:
                kind = None
            self._helper_kinds[key] = kind
        return self._helper_kinds[key]


_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})
_USER_MODEL_NAME = re.compile(r"user(_?model)?$", re.IGNORECASE)
_USER_LOOKUP_NAME = re.compile(
    r"^_*a?(get|fetch|load|find|lookup|resolve|retrieve)_(\w+_)?users?(_(by|from|for|or)_\w+)?$")


def _module_function(module: ModuleInfo, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    functions = (s for s in module.tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return next((f for f in functions if f.name == name), None)


def _arguments(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(kw.value for kw in call.keywords)]


def _is_user_model_call(node: ast.AST, qualify) -> bool:
    """`get_user_model()`, or `apps.get_model(settings.AUTH_USER_MODEL)`."""
    if not isinstance(node, ast.Call):
        return False
    if qualify(node.func) in GET_USER_MODEL or identifier(node.func) == "get_user_model":
        return True
    return identifier(node.func) == "get_model" and any(
        identifier(a) == "AUTH_USER_MODEL" for arg in node.args for a in walk(arg))


@per_tree
def _module_user_model_names(module: ModuleInfo) -> frozenset[str]:
    """Module-level names bound to the user model (`User = get_user_model()`), found once per module."""
    return frozenset(name for statement in module.tree.body
                     if isinstance(statement, ast.Assign) and _is_user_model_call(statement.value, module.imports.qualify)
                     for target in statement.targets for name in target_names(target))
