"""Reading Django settings modules statically.

A settings module is executed in our head, not in Python: literals, `+=`,
`.append`, `.insert`, `.extend`, `.remove`, `list(...)`, `+` and
`from .base import *` are understood; anything else becomes `Unknown`, so that
no rule ever guesses a value it cannot see.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import functools
import io
import os
import re
import tokenize
from dataclasses import dataclass, field

from tenantlint.diagnostics import Location
from tenantlint.model.project import Project, real, source_root
from tenantlint.sourcefile import split_lines

COMMENTED_ENTRY = re.compile(r"#\s*(?P<quote>['\"])(?P<path>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?P=quote)")
SETTINGS_PATH_PATTERNS = ("settings.py", "*settings*.py", "*/settings/*.py")
_MAX_IMPORT_DEPTH = 20


@dataclass
class Unknown:
    loc: Location | None = None


@dataclass
class Str:
    value: str
    loc: Location


@dataclass
class Seq:
    """A list or tuple setting; `complete` is False when some part could not be read."""

    items: list
    loc: Location
    complete: bool = True
    literals: list[tuple[str, ast.AST]] = field(default_factory=list)

    def strings(self) -> list[Str]:
        return [item for item in self.items if isinstance(item, Str)]


@dataclass
class Mapping:
    entries: dict
    loc: Location
    complete: bool = True


Value = Unknown | Str | Seq | Mapping


@dataclass
class Imported:
    """A name a module imports from another (`from .apps import INSTALLED_APPS`), read from that module
    only when a setting uses it: importing `BaseCommand` costs nothing, and makes no module a settings one."""

    path: str
    name: str
    stack: list[str]


def looks_like_settings(path: str, extra_patterns: tuple[str, ...] | list[str] = ()) -> bool:
    """A pattern without '/' is matched against the file name, a pattern with one against the path,
    and any pattern against the path's end (`settings.py` matches `proj/settings.py`)."""
    return _settings_matcher(tuple(extra_patterns))(path.replace(os.sep, "/"))


@functools.lru_cache(maxsize=None)
def _settings_matcher(extra_patterns: tuple[str, ...]):
    """`looks_like_settings` for '/'-separated paths, its patterns compiled into two expressions."""
    patterns = (*SETTINGS_PATH_PATTERNS, *extra_patterns)
    by_name = [fnmatch.translate(p) for p in patterns if "/" not in p]
    by_path = [fnmatch.translate(p) for p in patterns if "/" in p]
    # a pattern with a folder in it also matches below any folder; one without names only the file
    # (`*settings*.py` must not take every module of a folder called `split_settings`)
    by_path += [fnmatch.translate("*/" + p.lstrip("/")) for p in patterns if "/" in p]
    name_match = re.compile("|".join(by_name)).match if by_name else None
    path_match = re.compile("|".join(by_path)).match

    def matches(path: str) -> bool:
        return bool((name_match and name_match(path.rpartition("/")[2])) or path_match(path))

    return matches


@dataclass
class Assignment:
    name: str
    loc: Location


class SettingsView:
    """The settings as one leaf settings module (e.g. production.py) leaves them."""

    def __init__(self, leaf: str, values: dict[str, Value], modules: list[str], assignments: list[Assignment],
                 star_unknown: bool, configuration: str | None = None, scope: str | None = None):
        self.leaf = leaf
        self.configuration = configuration  # the django-configurations class, for class-based settings
        # the code these settings govern: the source tree the settings module belongs to
        self.scope = scope or source_root(os.path.dirname(leaf))
        self.values = values
        self.modules = modules  # real paths of every module executed for this view
        self.assignments = assignments
        self.star_unknown = star_unknown

    @property
    def name(self) -> str:
        return self.leaf if self.configuration is None else f"{self.leaf}:{self.configuration}"

    def governs(self, path: str) -> bool:
        return path == self.scope or path.startswith(self.scope.rstrip(os.sep) + os.sep)

    def get(self, name: str) -> Value | None:
        value = self.values.get(name)
        if value is None and self.star_unknown:
            return Unknown()
        return value

    def lookup(self, name: str, *keys: str) -> Value | None:
        value = self.get(name)
        for key in keys:
            if isinstance(value, Mapping):
                found = value.entries.get(key)
                value = found if found is not None else (None if value.complete else Unknown())
            elif value is None:
                return None
            else:
                return Unknown()
        return value

    def app_installed(self, app: str) -> bool | None:
        """True/False when known; None when the app lists cannot be read fully."""
        unknown = False
        for name in ("INSTALLED_APPS", "SHARED_APPS", "TENANT_APPS"):
            value = self.get(name)
            if isinstance(value, Seq):
                if any(item.value == app or item.value.startswith(app + ".apps.") for item in value.strings()):
                    return True
                unknown = unknown or not value.complete
            elif value is not None:
                unknown = True
        return None if unknown else False

    def is_tenant_project(self) -> bool | None:
        if isinstance(self.get("TENANT_MODEL"), Str):
            return True
        return self.app_installed("django_tenants")


class SettingsReader:
    """Executes settings modules statically and caches the views per leaf."""

    def __init__(self, project: Project, candidates: list[str]):
        self.project = project
        self.candidates = list(dict.fromkeys(real(c) for c in candidates))
        self._views: list[SettingsView] | None = None
        self._tokens: dict[str, list[tokenize.TokenInfo]] = {}
        self._results: dict[str, _ModuleResult] = {}
        self._evaluated: dict[str, list[SettingsView]] = {}  # per candidate, leaf or not
        self._configurations: dict[str, set[str]] = {}  # declared django-configurations classes per module
        self._locations: set[str] = set()
        self._scopes: dict[str, str] = {}  # per candidate: the code it governs

    def include(self, location) -> None:
        """Take the settings modules a `SettingsLocation` found (once per search root)."""
        if location.root in self._locations:
            return
        self._locations.add(location.root)
        for path in location.paths:
            key = real(path)
            scope = location.scope_for(path)
            if self._scopes.get(key) != scope:
                self._scopes[key] = scope
                self._evaluated.pop(key, None)
            declared = location.configurations(path)
            if declared - self._configurations.get(key, set()):
                self._configurations.setdefault(key, set()).update(declared)
                self._evaluated.pop(key, None)
            if key not in self.candidates:
                self.candidates.append(key)
            self._views = None

    def add_candidate(self, path: str) -> None:
        """A host tool (flake8, pylint) hands files over one by one: take settings-like ones as they come."""
        if not looks_like_settings(path):
            return
        key = real(path)
        if key not in self.candidates:
            self.candidates.append(key)
            self._views = None

    def invalidate(self, path: str) -> None:
        """A module's text changed (while fixing): forget what was derived from it, keep the rest."""
        key = real(path)
        self._views = None
        self._tokens.pop(key, None)
        self._results = {k: r for k, r in self._results.items() if key not in r.modules}
        self._evaluated = {k: v for k, v in self._evaluated.items() if not any(key in view.modules for view in v)}

    def views(self) -> list[SettingsView]:
        """Every leaf's view; a rule that asks depends on every settings module (for the cache)."""
        views = self._all_views()
        for view in views:
            self.project.touched.update(view.modules)
        return views

    def _all_views(self) -> list[SettingsView]:
        if self._views is None:
            for path in self.candidates:
                if path not in self._evaluated:
                    self._evaluated[path] = self._evaluate(path)
            modules = {path: set(m for view in self._evaluated[path] for m in view.modules) for path in self.candidates}
            included: set[str] = set()
            for path, imported in modules.items():
                # X is not a leaf when another module imports it and X does not import that one back
                included.update(m for m in imported if m != path and not (m in modules and path in modules[m]))
            self._views = [view for path in self.candidates if path not in included for view in self._evaluated[path]]
        return list(self._views)

    def views_governing(self, path: str) -> list[SettingsView]:
        """The leaves whose source tree holds `path`: the settings its code runs with."""
        absolute = os.path.abspath(path)
        views = [view for view in self._all_views() if view.governs(absolute)]
        for view in views:
            self.project.touched.update(view.modules)
        return views

    def is_settings_module(self, path: str) -> bool:
        key = real(path)
        return key in self.candidates or any(key in view.modules for view in self._all_views())

    def views_for(self, path: str) -> list[SettingsView]:
        key = real(path)
        views = [view for view in self._all_views() if key in view.modules]
        for view in views:
            self.project.touched.update(view.modules)
        return views

    def commented_entries(self, seq: Seq) -> list[tuple[str, Location]]:
        """Comment lines inside the literals of a list setting whose text is a quoted dotted path."""
        found = []
        for path, literal in seq.literals:
            for token in self.comments_within(path, literal):
                match = COMMENTED_ENTRY.match(token.string)
                if match:
                    line, col = token.start
                    found.append((match.group("path"), Location(path, line, col, line, col + match.end())))
        return found

    def code_token_before(self, path: str, position: tuple[int, int]) -> tokenize.TokenInfo | None:
        """The last token before `position` that is code, not a comment or a line break."""
        last = None
        for token in self._file_tokens(path):
            if token.start >= position:
                break
            if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                last = token
        return last

    def source_lines(self, path: str) -> list[str]:
        """The lines of a settings module as currently known (with a fix in progress), endings kept."""
        module = self.project.module_at(path)
        return split_lines(module.text, keepends=True) if module else []

    def comments_within(self, path: str, node: ast.AST) -> list[tokenize.TokenInfo]:
        """Comment tokens that stand alone on their line inside a literal's brackets."""
        tokens = self._file_tokens(path)
        start, end = (node.lineno, node.col_offset), (node.end_lineno, node.end_col_offset)
        found = []
        for token in tokens:
            if token.type != tokenize.COMMENT or not (start < token.start < end):
                continue
            if token.line[: token.start[1]].strip() == "":
                found.append(token)
        return found

    def _file_tokens(self, path: str) -> list[tokenize.TokenInfo]:
        key = real(path)
        if key not in self._tokens:
            module = self.project.module_at(path)
            try:
                self._tokens[key] = list(tokenize.generate_tokens(io.StringIO(module.text).readline)) if module else []
            except (tokenize.TokenError, SyntaxError):
                self._tokens[key] = []
        return self._tokens[key]

    def _evaluate(self, path: str) -> list[SettingsView]:
        """One view per leaf: the module, or each django-configurations class it declares or defines."""
        result = self.module_result(path, [])
        scope = self._scopes.get(real(path))
        if result is None:
            return [SettingsView(path, {}, [real(path)], [], False, scope=scope)]
        modules = list(result.modules)
        values = self._settings_values(result.env, modules)
        if not result.configurations:
            return [SettingsView(path, values, modules, result.assignments, result.star_unknown, scope=scope)]
        chosen = self._configurations.get(real(path)) or _leaf_classes(result.configurations)
        views = []
        for name in sorted(chosen):
            attributes = result.configurations.get(name)
            if attributes is not None:
                views.append(SettingsView(path, {**values, **self._settings_values(attributes, modules)}, modules,
                                          result.assignments, result.star_unknown, name, scope))
        return views or [SettingsView(path, values, modules, result.assignments, result.star_unknown, scope=scope)]

    def _settings_values(self, env: dict, modules: list[str]) -> dict[str, Value]:
        values = {}
        for name, value in env.items():
            if name == _BASES:
                continue
            if isinstance(value, Imported):
                if not name.isupper():
                    continue  # Django reads only upper-case names as settings
                value = self.resolve(value, modules)
            if value is not None:
                values[name] = value
        return values

    def resolve(self, value: "Value | Imported | None", modules: list[str]) -> Value | None:
        """The value an imported name has in its module (following re-imports), adding each module read
        to `modules`."""
        while isinstance(value, Imported):
            result = self.module_result(value.path, value.stack)
            if result is None:
                return None
            modules.extend(m for m in result.modules if m not in modules)
            value = result.env.get(value.name)
        return None if value is None else _deep_copy(value)

    def module_result(self, path: str, stack: list[str]) -> "_ModuleResult | None":
        """What executing one module leaves, computed once per module.

        A module cannot see its importer's names, so its own result, merged
        into the importer (`from .base import *`), is exact and can be shared.
        """
        key = real(path)
        cached = self._results.get(key)
        if cached is not None:
            return cached
        if key in stack or len(stack) > _MAX_IMPORT_DEPTH:
            return None
        module = self.project.module_at(path)
        if module is None:
            return None
        runner = _Runner(self, [*stack, key])
        runner._run(module.tree.body, module.path)
        result = _ModuleResult(runner.env, runner.modules, runner.assignments, runner.star_unknown, runner.configurations)
        self._results[key] = result
        return result


@dataclass
class _ModuleResult:
    env: dict[str, Value]
    modules: list[str]
    assignments: list[Assignment]
    star_unknown: bool
    configurations: dict[str, dict[str, Value]] = field(default_factory=dict)


def _leaf_classes(configurations: dict[str, dict]) -> set[str]:
    """django-configurations classes no other class of the module derives from."""
    bases = {base for attributes in configurations.values() for base in attributes.get(_BASES, ())}
    return {name for name in configurations if name not in bases}


_BASES = "__bases__"  # where a configuration class's local bases are kept among its attributes


class _Runner:
    def __init__(self, reader: SettingsReader, stack: list[str]):
        self.reader = reader
        self.project = reader.project
        self.env: dict[str, Value] = {}
        self.modules: list[str] = [stack[-1]]
        self.assignments: list[Assignment] = []
        self.star_unknown = False
        self.configurations: dict[str, dict[str, Value]] = {}  # django-configurations classes
        self._stack = stack

    def _merge_modules(self, result: _ModuleResult) -> None:
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
            inherited.update({k: _deep_copy(v) for k, v in self.configurations[base].items() if k != _BASES})
        body = _Runner(self.reader, self._stack)
        body.env = {**{k: _deep_copy(v) for k, v in self.env.items()}, **inherited}
        body._run(node.body, path)
        self._merge_modules(body)
        attributes = dict(inherited)
        for assignment in body.assignments:
            if assignment.name.isupper() and assignment.name in body.env:
                attributes[assignment.name] = body.env[assignment.name]
        self.assignments.extend(body.assignments)
        attributes[_BASES] = tuple(local_bases)
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
                self.env[name] = _deep_copy(value)  # an `Imported` stays as it is, unread
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
            return _deep_copy(found)
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


def _deep_copy(value: Value) -> Value:
    if isinstance(value, Seq):
        return Seq([_deep_copy(i) for i in value.items], value.loc, value.complete, list(value.literals))
    if isinstance(value, Mapping):
        return Mapping({k: _deep_copy(v) for k, v in value.entries.items()}, value.loc, value.complete)
    return value


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
