"""Running a settings module in our head, not in Python: literals, names, `+=`, list methods,
imports of other settings modules and django-configurations classes, statement by statement."""

from __future__ import annotations

import ast
import copy
import os
from dataclasses import dataclass, field

from tenantlint.diagnostics import Location
from tenantlint.model.settings_values import Assignment, Imported, Mapping, Seq, Str, Unknown, Value, deep_copy


@dataclass
class ModuleResult:
    env: dict[str, Value]
    modules: list[str]
    assignments: list[Assignment]
    star_unknown: bool
    configurations: dict[str, dict[str, Value]] = field(default_factory=dict)


def leaf_classes(configurations: dict[str, dict]) -> set[str]:
    """django-configurations classes no other class of the module derives from."""
    bases = {base for attributes in configurations.values() for base in attributes.get(CONFIGURATION_BASES, ())}
    return {name for name in configurations if name not in bases}


CONFIGURATION_BASES = "__bases__"  # where a configuration class's local bases are kept among its attributes


class SettingsEvaluation:
    def __init__(self, reader, stack: list[str]):
        """`reader`: the SettingsReader that reads the modules this one imports (it keeps their results)."""
        self.reader = reader
        self.project = reader.project
        self.env: dict[str, Value] = {}
        self.modules: list[str] = [stack[-1]]
        self.assignments: list[Assignment] = []
        self.star_unknown = False
        self.configurations: dict[str, dict[str, Value]] = {}  # django-configurations classes
        self._stack = stack

    def _merge_modules(self, result: ModuleResult) -> None:
        for module in result.modules:
            if module not in self.modules:
                self.modules.append(module)

    def _value_of(self, name: str) -> Value | None:
        """`name`'s value here, an imported one read from its module on this first use."""
        value = self.env.get(name)
        if isinstance(value, Imported):
            value = self.reader.resolve(value, self.modules)
            if value is None:
                del self.env[name]
            else:
                self.env[name] = value
        return value

    # -- statements ------------------------------------------------------
    def _run(self, body: list[ast.stmt], path: str) -> None:
        for node in body:
            if isinstance(node, ast.Assign):
                value = self._expr(node.value, path)
                for target in node.targets:
                    self._assign(target, value, path)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                self._assign(node.target, self._expr(node.value, path), path)
            elif isinstance(node, ast.AugAssign):
                self._augment(node, path)
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                self._call(node.value, path)
            elif isinstance(node, ast.ImportFrom):
                self._import_from(node, path)
            elif isinstance(node, ast.If):
                self._run(node.body, path)
                self._run(node.orelse, path)
            elif isinstance(node, (ast.Try, ast.With)) or type(node).__name__ == "TryStar":
                self._run(node.body, path)
                self._run(getattr(node, "orelse", []), path)
                self._run(getattr(node, "finalbody", []), path)
            elif isinstance(node, ast.Delete):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.env.pop(target.id, None)
            elif isinstance(node, ast.ClassDef):
                self._configuration_class(node, path)

    def _configuration_class(self, node: ast.ClassDef, path: str) -> None:
        """A django-configurations class: its upper-case attributes, over those of its bases, are settings
        (`values.*` wrappers read as unknown)."""
        local_bases = [b.id for b in node.bases if isinstance(b, ast.Name) and b.id in self.configurations]
        named = any((isinstance(b, ast.Name) and b.id == "Configuration")
                    or (isinstance(b, ast.Attribute) and b.attr == "Configuration") for b in node.bases)
        if not (named or local_bases):
            return
        inherited: dict[str, Value] = {}
        for base in reversed(local_bases):
            inherited.update({k: deep_copy(v) for k, v in self.configurations[base].items() if k != CONFIGURATION_BASES})
        body = SettingsEvaluation(self.reader, self._stack)
        body.env = {**{k: deep_copy(v) for k, v in self.env.items()}, **inherited}
        body._run(node.body, path)
        self._merge_modules(body)
        attributes = dict(inherited)
        for assignment in body.assignments:
            if assignment.name.isupper() and assignment.name in body.env:
                attributes[assignment.name] = body.env[assignment.name]
        self.assignments.extend(body.assignments)
        attributes[CONFIGURATION_BASES] = tuple(local_bases)
        self.configurations[node.name] = attributes

    def _assign(self, target: ast.expr, value: Value, path: str) -> None:
        if isinstance(target, ast.Name):
            value = copy.copy(value)
            if isinstance(value, (Seq, Mapping)):
                value.loc = Location.of(path, target)
            self.env[target.id] = value
            self.assignments.append(Assignment(target.id, Location.of(path, target)))
        elif isinstance(target, ast.Subscript):
            container, key = self._subscript_target(target)
            if isinstance(container, Mapping) and key is not None:
                container.entries[key] = value
            elif isinstance(container, Mapping):
                container.complete = False
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._assign(element, Unknown(Location.of(path, element)), path)

    def _subscript_target(self, target: ast.Subscript) -> tuple[Value | None, str | None]:
        container = self._lookup_target(target.value)
        key = target.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return container, key.value
        return container, None

    def _lookup_target(self, node: ast.expr) -> Value | None:
        if isinstance(node, ast.Name):
            return self._value_of(node.id)
        if isinstance(node, ast.Subscript):
            container, key = self._subscript_target(node)
            if isinstance(container, Mapping) and key is not None:
                return container.entries.get(key)
        return None

    def _augment(self, node: ast.AugAssign, path: str) -> None:
        added = self._expr(node.value, path)
        current = self._lookup_target(node.target)
        if isinstance(node.op, ast.Add) and isinstance(current, Seq):
            _extend(current, added)
        elif isinstance(node.op, ast.Add) and current is None and isinstance(added, Seq) and self.star_unknown:
            partial = copy.copy(added)
            partial.complete = False
            self._assign(node.target, partial, path)
        elif isinstance(node.op, ast.BitOr) and isinstance(current, Mapping) and isinstance(added, Mapping):
            current.entries.update(added.entries)
        elif isinstance(current, (Seq, Mapping)):
            current.complete = False
        if isinstance(node.target, ast.Name):
            self.assignments.append(Assignment(node.target.id, Location.of(path, node.target)))

    def _call(self, call: ast.Call, path: str) -> None:
        func = call.func
        if not isinstance(func, ast.Attribute):
            return
        target = self._lookup_target(func.value)
        args = [self._expr(arg, path) for arg in call.args]
        if isinstance(target, Seq):
            if func.attr == "append" and len(args) == 1:
                target.items.append(args[0])
            elif func.attr == "extend" and len(args) == 1:
                _extend(target, args[0])
            elif func.attr == "insert" and len(args) == 2:
                index = call.args[0]
                position = _int_constant(index)
                if position is None:
                    target.complete = False
                    target.items.append(args[1])
                else:
                    target.items.insert(position, args[1])
            elif func.attr == "remove" and len(args) == 1 and isinstance(args[0], Str):
                target.items = [i for i in target.items if not (isinstance(i, Str) and i.value == args[0].value)]
            elif func.attr in {"append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse"}:
                target.complete = False
        elif isinstance(target, Mapping):
            if func.attr == "update" and len(args) == 1 and isinstance(args[0], Mapping):
                target.entries.update(args[0].entries)
            elif func.attr in {"update", "pop", "setdefault", "clear"}:
                target.complete = False

    def _import_from(self, node: ast.ImportFrom, path: str) -> None:
        if node.level:
            base_dir = os.path.dirname(os.path.abspath(path))
            for _ in range(node.level - 1):
                base_dir = os.path.dirname(base_dir)
            target = _module_file(base_dir, node.module) if node.module else None
        else:
            target = self.project.find_module_path(node.module or "", near=path)
        if not any(alias.name == "*" for alias in node.names):
            for alias in node.names:
                if target is None:
                    self.env.pop(alias.asname or alias.name, None)
                else:
                    self.env[alias.asname or alias.name] = Imported(target, alias.name, self._stack)
            return
        result = self.reader.module_result(target, self._stack) if target is not None else None
        if result is None:
            if not _is_third_party_star(node.module):
                self.star_unknown = True
            return
        self._merge_modules(result)
        for name, value in result.env.items():
            if not name.startswith("_"):
                self.env[name] = deep_copy(value)  # an `Imported` stays as it is, unread
        self.assignments.extend(result.assignments)
        self.star_unknown = self.star_unknown or result.star_unknown

    # -- expressions -----------------------------------------------------
    def _expr(self, node: ast.expr, path: str) -> Value:
        loc = Location.of(path, node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return Str(node.value, loc)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            seq = Seq([], loc, True, [(path, node)])
            for element in node.elts:
                if isinstance(element, ast.Starred):
                    _extend(seq, self._expr(element.value, path))
                else:
                    seq.items.append(self._expr(element, path))
            return seq
        if isinstance(node, ast.Dict):
            mapping = Mapping({}, loc)
            for key, value in zip(node.keys, node.values):
                if key is None:
                    spread = self._expr(value, path)
                    if isinstance(spread, Mapping):
                        mapping.entries.update(spread.entries)
                        mapping.complete = mapping.complete and spread.complete
                    else:
                        mapping.complete = False
                elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                    mapping.entries[key.value] = self._expr(value, path)
                else:
                    mapping.complete = False
            return mapping
        if isinstance(node, ast.Name):
            found = self._value_of(node.id)
            if found is None:
                return Unknown(loc)
            return deep_copy(found)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self._expr(node.left, path), self._expr(node.right, path)
            if isinstance(left, Seq) or isinstance(right, Seq):
                combined = Seq([], loc, True, [])
                _extend(combined, left)
                _extend(combined, right)
                return combined
            return Unknown(loc)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in {"list", "tuple"} and len(node.args) == 1 and not node.keywords:
                inner = self._expr(node.args[0], path)
                if isinstance(inner, Seq):
                    return inner
            if node.func.id == "dict" and not node.args:
                return Mapping({kw.arg: self._expr(kw.value, path) for kw in node.keywords if kw.arg}, loc,
                               all(kw.arg for kw in node.keywords))
        return Unknown(loc)


def _extend(seq: Seq, added: Value) -> None:
    if isinstance(added, Seq):
        seq.items.extend(added.items)
        seq.literals.extend(added.literals)
        seq.complete = seq.complete and added.complete
    else:
        seq.complete = False


def _int_constant(node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        return -value if isinstance(value, int) else None
    return None


def _module_file(base_dir: str, module: str) -> str | None:
    relative = module.replace(".", os.sep)
    for candidate in (os.path.join(base_dir, relative + ".py"), os.path.join(base_dir, relative, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _is_third_party_star(module: str | None) -> bool:
    """Star imports of libraries (e.g. `from celery.schedules import *`) bind no settings we read."""
    return bool(module) and module.split(".")[0] in {"os", "pathlib", "datetime", "celery", "kombu", "decouple", "environ"}
