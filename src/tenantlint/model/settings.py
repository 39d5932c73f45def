"""Reading Django settings modules statically.

A settings module is executed in our head, not in Python: literals, `+=`,
`.append`, `.insert`, `.extend`, `.remove`, `list(...)`, `+` and
`from .base import *` are understood; anything else becomes `Unknown`, so that
no rule ever guesses a value it cannot see.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import io
import os
import re
import tokenize

from tenantlint.diagnostics import Location
from tenantlint.model.project import Project, real, source_root
from tenantlint.model.settings_evaluation import CONFIGURATION_BASES, ModuleResult, SettingsEvaluation, leaf_classes
from tenantlint.model.settings_values import (
    COMMENTED_ENTRY,
    Assignment,
    Imported,
    Mapping,
    Seq,
    Str,
    Unknown,
    Value,
    deep_copy,
)
from tenantlint.sourcefile import split_lines

SETTINGS_PATH_PATTERNS = ("settings.py", "*settings*.py", "*/settings/*.py")
_MAX_IMPORT_DEPTH = 20


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
        self._results: dict[str, ModuleResult] = {}
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
        chosen = self._configurations.get(real(path)) or leaf_classes(result.configurations)
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
            if name == CONFIGURATION_BASES:
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
        return None if value is None else deep_copy(value)

    def module_result(self, path: str, stack: list[str]) -> "ModuleResult | None":
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
        runner = SettingsEvaluation(self, [*stack, key])
        runner._run(module.tree.body, module.path)
        result = ModuleResult(runner.env, runner.modules, runner.assignments, runner.star_unknown, runner.configurations)
        self._results[key] = result
        return result


