"""Keys built by helpers: functions of this module and of other project modules, methods, `self` attributes."""

from __future__ import annotations

import ast
from dataclasses import replace

from tenantlint.rules.cache.key_shapes import NESTED_SCOPES, SCOPED, Built, Opaque, Shape, Where, end_of, start_of
from tenantlint.rules.cache.names import ModuleNames
from tenantlint.trees import child_nodes, walk

_MAX_FOREIGN_DEPTH = 2


def _returned(function: ast.AST) -> list[ast.expr]:
    if isinstance(function, ast.Lambda):
        return [function.body]
    found = []
    pending = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            found.append(node.value)
        elif not isinstance(node, NESTED_SCOPES):
            pending.extend(child_nodes(node))
    return sorted(found, key=start_of)


def _assigns_self_attribute(statement: ast.AST, name: str) -> bool:
    """`self.<name> = ...` (also augmented, annotated, or one target among several), or `setattr(self, ...)`."""
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
        targets = [statement.target]
    elif isinstance(statement, ast.Call) and isinstance(statement.func, ast.Name) and statement.func.id == "setattr":
        return bool(statement.args) and isinstance(statement.args[0], ast.Name) and statement.args[0].id == "self"
    else:
        return False
    return any(isinstance(target, ast.Attribute) and target.attr == name and isinstance(target.value, ast.Name)
               and target.value.id == "self" for node in targets for target in walk(node))


class HelperKeys(ModuleNames):
    """Keys that are the result of a helper: a function of this module or of another project module, a
    method of the same class, a value kept on `self`. Half of `KeyReader`, which reads what they return."""

    def __init__(self, ctx, scope_names: tuple[str, ...], foreign_depth: int = 0):
        super().__init__(ctx)
        self._scope_names = scope_names
        self._foreign_depth = foreign_depth  # how many imported helpers deep this module is being read
        self._foreign: dict[str, "HelperKeys | None"] = {}
        self._helpers: set[int] = set()

    def _imported_helper(self, func: ast.expr, where: Where) -> tuple["HelperKeys", ast.FunctionDef] | None:
        """`from .keys import user_key` / `keys.user_key`: a module-level function of another project module."""
        if self._foreign_depth >= _MAX_FOREIGN_DEPTH:
            return None
        dotted = self.qualified(func, where)
        module_name, _, name = (dotted or "").rpartition(".")
        if not module_name or module_name.startswith("django."):
            return None
        other = self._foreign_facts(module_name)
        if other is None:
            return None
        found = [node for node in other.ctx.tree.body if isinstance(node, ast.FunctionDef) and node.name == name]
        return (other, found[0]) if len(found) == 1 and not found[0].decorator_list else None

    def _foreign_facts(self, module_name: str) -> "HelperKeys | None":
        if module_name not in self._foreign:
            module = self.ctx.project.module(module_name, self.ctx.path)
            other = self.ctx.context_of(module.path) if module is not None and module.path != self.ctx.path else None
            self._foreign[module_name] = None if other is None else type(self)(
                other, self._scope_names, self._foreign_depth + 1)
        return self._foreign[module_name]

    def _imported_result(self, imported: tuple["HelperKeys", ast.FunctionDef], call: ast.Call,
                         positional: list[Shape], named: dict) -> Shape:
        other, function = imported
        shape = other._helper_result((function, Where((), None)), function.name, call, positional, named)
        if isinstance(shape, Built):
            # where the key is built is another file: reported at this module's call, fixed there by hand
            return replace(shape, helper=f"{other.ctx.module.name}.{function.name}", exact=False,
                           built_in=other.ctx.path)
        return SCOPED if shape is SCOPED else Opaque(self.snippet(call))

    def _own_class(self, where: Where) -> ast.ClassDef | None:
        """The class whose method the read is in, when `self` is that method's first parameter."""
        if not where.scopes:
            return None
        function = where.scopes[0]
        owner = self.ctx.execution.owner_of(function)
        arguments = function.args.posonlyargs + function.args.args if owner is not None else []
        return owner if arguments and arguments[0].arg == "self" else None

    def _method(self, func: ast.Attribute, where: Where) -> ast.AST | None:
        """`self.key_for(...)`: a method of the same class, defined once in its body."""
        if not (isinstance(func.value, ast.Name) and func.value.id == "self") or "self" in where.opaque:
            return None
        owner = self._own_class(where)
        found = [item for item in owner.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and item.name == func.attr] if owner is not None else []
        return found[0] if len(found) == 1 and not found[0].decorator_list else None

    def _kept_on_self(self, node: ast.Attribute, where: Where) -> tuple[ast.expr, ast.AST] | None:
        """`self.key`, assigned once in the class's `__init__` and nowhere else in the class: that value,
        read where `__init__` built it."""
        if not (isinstance(node.value, ast.Name) and node.value.id == "self") or "self" in where.opaque:
            return None
        owner = self._own_class(where)
        if owner is None:
            return None
        assigned = [(statement, function) for function in owner.body
                    if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                    for statement in walk(function) if _assigns_self_attribute(statement, node.attr)]
        if len(assigned) != 1 or assigned[0][1].name != "__init__" or not isinstance(assigned[0][0], ast.Assign):
            return None
        return assigned[0][0].value, assigned[0][1]

    def _helper(self, name: str, where: Where) -> tuple[ast.AST, Where] | None:
        """A function of this module (or a lambda bound to a name) that the key is the result of."""
        resolved = self.resolve(name, where)
        if not resolved or not resolved[0]:
            return None
        binding = resolved[0][-1]
        if binding.kind == "def" or (binding.kind == "assign" and isinstance(binding.node, ast.Lambda)):
            return binding.node, resolved[1]
        return None

    def _helper_result(self, helper: tuple[ast.AST, Where], name: str, call: ast.Call,
                       positional: list[Shape], named: dict, bound: bool = False) -> Shape:
        """What a helper returns for this call; `bound`: a method called on `self`, its first parameter."""
        function, outer = helper
        if id(function) in self._helpers:
            return Opaque(self.snippet(call))
        self._helpers.add(id(function))
        try:
            arguments = self._arguments(function, call, positional, named, outer, bound)
            results = [self.read(value, Where((function, *outer.scopes), start_of(value), arguments=arguments))
                       for value in _returned(function)]
        finally:
            self._helpers.discard(id(function))
        if SCOPED in results:
            return SCOPED
        built = next((shape for shape in results if isinstance(shape, Built) and shape.has_text()), None)
        if built is None:
            return Opaque(self.snippet(call))
        if sum(isinstance(shape, Built) for shape in results) > 1:
            built = replace(built, exact=False)  # another return may build the key
        if built.helper or not start_of(function) <= start_of(built.node) <= end_of(function):
            return built  # built by an inner helper, or by the caller and passed through
        return replace(built, helper=name)

    def _arguments(self, function: ast.AST, call: ast.Call, positional: list[Shape], named: dict,
                   outer: Where, bound: bool = False) -> tuple[tuple[str, Shape], ...]:
        """What each parameter of a helper holds for this call: the argument, else the default."""
        parameters = function.args
        ordered = [*parameters.posonlyargs, *parameters.args][1 if bound else 0:]
        passed: dict[str, Shape] = {}
        for parameter, arg, shape in zip(ordered, call.args, positional):
            if isinstance(arg, ast.Starred):
                break
            passed[parameter.arg] = shape
        passed.update((name, shape) for name, shape in named.items() if name is not None)
        defaults = [*zip(ordered[len(ordered) - len(parameters.defaults):], parameters.defaults),
                    *((p, d) for p, d in zip(parameters.kwonlyargs, parameters.kw_defaults) if d is not None)]
        for parameter, default in defaults:
            if parameter.arg not in passed:
                passed[parameter.arg] = self.read(default, outer)
        return tuple(sorted(passed.items()))
