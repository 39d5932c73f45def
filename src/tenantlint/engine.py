"""One parse per file, one traversal, every rule fed the nodes it asked for."""

from __future__ import annotations

import ast
import os
import re
import traceback

from tenantlint.config import Config
from tenantlint.diagnostics import Diagnostic, Location, Related, Severity
from tenantlint.model.project import ModuleInfo, Project, real, source_root
from tenantlint.model.project_text import ProjectText
from tenantlint.model.serializer_use import SerializerUse
from tenantlint.model.settings import SettingsReader, SettingsView, looks_like_settings
from tenantlint.model.settings_location import SettingsLocation, locate_settings, search_root
from tenantlint.model.tenancy import USER, ModelFileFacts, Tenancy, infer_tenancy
from tenantlint.model.test_code import is_test_code
from tenantlint.results import FileResult, InternalError
from tenantlint.rules import all_rules
from tenantlint.rules.base import FileContext, Rule
from tenantlint.selection import code_matches, enabled_codes, per_file_ignored
from tenantlint.sourcefile import LineIndex, SourceError, SourceText, decode_source, parse_source, read_file_bytes
from tenantlint.trees import child_nodes, statement_children, walk_with_parents

PARSE_ERROR_CODE = "TL000"
_NOQA = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(r"^#\s*tenantlint:\s*noqa(?::\s?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?\s*$", re.IGNORECASE | re.MULTILINE)
_CODE_LIST = re.compile(r"[,\s]+")


class Engine:
    def __init__(self, config: Config, project: Project | None = None, files: list[str] | None = None,
                 apply_noqa: bool = True):
        self.config = config
        self.apply_noqa = apply_noqa
        self.project = project or Project(files or [], [config.root])
        declared = [os.path.join(config.root, p) for p in config.settings_modules]
        self.settings = SettingsReader(self.project, [p for p in declared if os.path.isfile(p)])
        self._locations: dict[str, SettingsLocation] = {}
        self._every_project_included = False
        self._tenancies: dict[tuple, Tenancy] = {}
        self._tenant_apps_in: dict[str, bool] = {}  # by folder: whether its settings list TENANT_APPS
        self._model_files = ModelFileFacts()
        self._project_texts: dict[tuple, ProjectText] = {}
        self._serializer_uses: dict[int, SerializerUse] = {}  # by id of a kept ProjectText
        self.enabled = enabled_codes(config)
        self.rules: list[Rule] = [rule(config.options) for rule in all_rules() if rule.code in self.enabled]
        words: dict[str, TriggerWord] = {}  # one object per word, so each is searched for once per file
        self._words = {rule.code: (tuple(words.setdefault(w, TriggerWord(w)) for w in _fewest_words(rule.triggers)),
                                   tuple(tuple(words.setdefault(w, TriggerWord(w)) for w in group.split("|"))
                                         for group in dict.fromkeys(rule.requires))) for rule in self.rules}
        self._dispatch: dict[type, list[Rule]] = {}
        for rule in self.rules:
            for node_type in rule.node_types:
                self._dispatch.setdefault(node_type, []).append(rule)

    def rule(self, code: str) -> Rule:
        return next(rule for rule in self.rules if rule.code == code)

    def settings_location(self, path: str) -> SettingsLocation:
        """Where the settings of `path`'s project are, searched once per project root."""
        if not self._every_project_included:
            self._include_every_project()
        return self._location_at(search_root(path, self.config))

    def _include_every_project(self) -> None:
        """The settings of every project the checked files belong to, before the first file is judged: a
        settings module's leaves may live in another project's folder (a test project importing the
        package's base settings), and which files a worker happened to check first must not decide what
        a finding says."""
        self._every_project_included = True
        folders = {os.path.dirname(os.path.abspath(path)) for path in self.project.files}
        for root in sorted({search_root(folder, self.config) for folder in folders}):
            self._location_at(root)

    def _location_at(self, root: str) -> SettingsLocation:
        location = self._locations.get(root)
        if location is None:
            patterns = tuple(self.config.settings_modules)
            location = self._locations[root] = locate_settings(
                root, lambda relative: looks_like_settings(relative, patterns))
        self.settings.include(location)
        return location

    def tenancy(self, path: str, views: list[SettingsView]) -> Tenancy:
        """`infer_tenancy` for the project of `path`, once per set of governing settings."""
        location = self.settings_location(path)
        key = (location.root, tuple(views))  # the views themselves: kept alive, never confused
        found = self._tenancies.get(key)
        if found is None:
            options = self.config.options
            declared = options.tenancy or (USER if options.tenant_from_user else "")
            # the model modules of the code these settings govern (none: the tenancy is not known)
            governed = tuple(f for f in location.python_files if any(view.governs(f) for view in views))
            found = self._tenancies[key] = infer_tenancy(views, governed, declared, options.tenant_model,
                                                         self._tree_of, self._model_files)
        return found

    def _tree_of(self, path: str) -> ast.Module | None:
        module = self.project.module_at(path)
        return module.tree if module is not None else None

    def project_text(self, path: str, views: list[SettingsView]) -> ProjectText:
        """The Python files of `path`'s project: the settings' source trees, else the file's own tree."""
        location = self.settings_location(path)
        top = source_root(os.path.dirname(os.path.abspath(path)))
        key = (location.root, tuple(views) or top)
        found = self._project_texts.get(key)
        if found is None:
            files = tuple(f for f in location.python_files if any(view.governs(f) for view in views)
                          or (not views and f.startswith(top.rstrip(os.sep) + os.sep)))
            found = self._project_texts[key] = ProjectText(files)
        return found

    def serializer_use(self, path: str, views: list[SettingsView]) -> SerializerUse:
        text = self.project_text(path, views)
        found = self._serializer_uses.get(id(text))
        if found is None:
            found = self._serializer_uses[id(text)] = SerializerUse(self.project, text, views)
        return found

    def forget_fixed_text(self, path: str) -> None:
        """`path` was fixed in memory, not yet on disk: the next files see it as it is on disk."""
        self.project.forget(path)
        self.settings.invalidate(path)
        self._serializer_uses.clear()
        self._tenant_apps_in.clear()

    def is_test_code(self, path: str) -> bool:
        return not self.config.options.include_tests and is_test_code(path)

    # -- entry points ----------------------------------------------------
    def check_path(self, path: str) -> FileResult:
        try:
            data = read_file_bytes(path)
        except OSError as error:
            result = FileResult(path, unreadable=True)
            result.diagnostics.append(_error_diagnostic(path, f"cannot read file: {error.strerror or error}", 1, 0))
            return result
        return self.check_bytes(path, data)

    def check_bytes(self, path: str, data: bytes) -> FileResult:
        self.project.touched = set()
        result = FileResult(path)
        try:
            source = decode_source(data)
        except SourceError as error:
            result.diagnostics.append(_error_diagnostic(path, error.message, error.line, error.col))
            return self._finish(result, "")
        result.source = source
        return self.check_text(path, source, result)

    def check_text(self, path: str, source: SourceText, result: FileResult | None = None,
                   tree: ast.Module | None = None) -> FileResult:
        """Lint decoded text; `tree` is the already-parsed module where a host (flake8) has one."""
        result = result or FileResult(path, source=source)
        self.settings_location(path)
        text = source.text
        file_noqa = _file_noqa_codes(text)
        if file_noqa == set():
            return result
        rules = self._rules_wanting(path, text)
        if not rules:
            return result  # no rule's trigger words in the file: it is not even parsed
        if tree is None:
            tree = self.project.parsed(path, text)
        if tree is None:
            try:
                tree = parse_source(text, path)
            except SourceError as error:
                result.diagnostics.append(_error_diagnostic(path, error.message, error.line, error.col))
                return self._finish(result, text, file_noqa)
        module, changed = self.project.remember(path, text, tree)
        if changed:
            self.settings.invalidate(path)
        ctx = self._context(path, source, tree, module)
        active = {id(r) for r in rules}
        self._traverse(tree, ctx, active, result)
        for rule in rules:
            if rule.node_types:
                self._run_rule(rule, result, ctx.path, lambda rule=rule: list(rule.finish(ctx)))
        settings_rules = [r for r in rules if r.settings_rule]
        if settings_rules:
            self._check_settings(ctx, settings_rules, result)
        for rule in rules:
            if rule.reviews_suppressions:
                found = list(result.diagnostics)
                self._run_rule(rule, result, ctx.path, lambda rule=rule, found=found: list(rule.review(ctx, found, self.enabled)))
        if not self.settings.is_settings_module(path):
            self.project.release(path)
        result.dependencies = sorted(self.project.touched - {real(path)})
        return self._finish(result, text, file_noqa, ctx.line_index if result.diagnostics else None)

    # -- internals -------------------------------------------------------
    def _context(self, path: str, source: SourceText, tree: ast.Module, module: ModuleInfo) -> FileContext:
        return FileContext(path, source, tree, module, self.project, self.config, self.settings, self.tenancy,
                           self.serializer_use, self.project_text, self._other_file)

    def _other_file(self, path: str) -> FileContext | None:
        if self.is_test_code(path):
            return None
        module = self.project.module_at(path)
        if module is None:
            return None
        return self._context(path, SourceText(module.text, "utf-8", False), module.tree, module)

    def _rules_wanting(self, path: str, text: str) -> list[Rule]:
        """The cheap prefilter: settings rules for settings modules, others by their trigger words
        (each word searched for once per file: a search costs a scan of the file)."""
        wanted = []
        is_settings = tenant_apps = None
        in_tests = self.is_test_code(path)
        present: dict[TriggerWord, bool] = {}

        def occurs(word: TriggerWord) -> bool:
            found = present.get(word)
            if found is None:
                found = present[word] = word.found_in(text)
            return found

        for rule in self.rules:
            if per_file_ignored(self.config, path, rule.code) or (in_tests and not rule.reviews_suppressions):
                continue
            if rule.settings_rule:
                if is_settings is None:
                    is_settings = bool(self.settings.views_for(path))
                if is_settings:
                    wanted.append(rule)
            elif rule.reviews_suppressions:
                if "noqa" in text:
                    wanted.append(rule)
            else:
                if rule.needs_tenant_apps:  # first: known once per project, it spares the words' scans
                    if tenant_apps is None:
                        tenant_apps = self._lists_tenant_apps(path)
                    if not tenant_apps:
                        continue
                triggers, requires = self._words[rule.code]
                if not ((not triggers or any(map(occurs, triggers))) and all(any(map(occurs, g)) for g in requires)):
                    continue
                if rule.text_pattern is None or any(pattern.search(text) for pattern in rule.text_pattern):
                    wanted.append(rule)
        return wanted

    def _lists_tenant_apps(self, path: str) -> bool:
        """Whether the settings governing `path` list TENANT_APPS: the same for every file of a folder."""
        folder = os.path.dirname(os.path.abspath(path))
        found = self._tenant_apps_in.get(folder)
        if found is None:
            found = self._tenant_apps_in[folder] = bool(
                self.tenancy(path, self.settings.views_governing(path)).tenant_apps)
        return found

    def _traverse(self, tree: ast.Module, ctx: FileContext, active: set[int], result: FileResult) -> None:
        dispatch = {t: [r for r in rs if id(r) in active] for t, rs in self._dispatch.items()}
        dispatch = {t: rs for t, rs in dispatch.items() if rs}
        if not dispatch:
            return
        # rules that want only statements (classes, functions) need no walk through expressions
        statements_only = all(issubclass(t, (ast.stmt, ast.Module)) for t in dispatch)
        children = statement_children if statements_only else child_nodes
        for rule in dispatch.get(ast.Module, ()):
            self._run_rule(rule, result, ctx.path, lambda rule=rule: rule.visit(tree, ctx))
        for node, _ in walk_with_parents(tree, children, ctx.parents):
            for rule in dispatch.get(type(node), ()):
                self._run_rule(rule, result, ctx.path, lambda rule=rule, node=node: rule.visit(node, ctx))

    def _check_settings(self, ctx: FileContext, rules: list[Rule], result: FileResult) -> None:
        """Settings rules judge each leaf settings module that executes this file; findings located
        here are kept, once, naming the leaves when the finding comes from a module that imports this one."""
        here = real(ctx.path)
        leaves: dict[tuple, list[str]] = {}
        found: dict[tuple, Diagnostic] = {}
        for view in self.settings.views_for(ctx.path):
            for rule in rules:
                def run(rule=rule, view=view):
                    return [d for d in rule.check_settings(view, ctx) if real(d.path) == here]
                produced = FileResult(ctx.path)
                self._run_rule(rule, produced, ctx.path, run)
                result.errors.extend(produced.errors)
                for diagnostic in produced.diagnostics:
                    key = (diagnostic.code, _span(diagnostic.location), diagnostic.message)
                    found.setdefault(key, diagnostic)
                    leaves.setdefault(key, []).append(view.leaf)
        for key, diagnostic in found.items():
            names = [os.path.relpath(leaf, os.path.dirname(here)) for leaf in leaves[key]]
            if here not in leaves[key]:
                verb = "leaves" if len(names) == 1 else "leave"
                diagnostic.message += f" (as {', '.join(sorted(set(names)))} {verb} the settings)"
            diagnostic.location = Location(ctx.path, *_span(diagnostic.location), diagnostic.location.byte_columns)
            result.diagnostics.append(diagnostic)

    def _run_rule(self, rule: Rule, result: FileResult, path: str, call) -> None:
        try:
            result.diagnostics.extend(call())
        except Exception as error:  # isolation: one rule's bug must not stop the others
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            result.errors.append(InternalError(path, rule.code, reason, traceback.format_exc()))

    def _finish(self, result: FileResult, text: str, file_noqa: set[str] | None = None,
                index: LineIndex | None = None) -> FileResult:
        if not result.diagnostics:
            return result
        index = index or LineIndex(text)
        noqa = _LineSuppressions(index.lines)
        kept: dict[tuple, Diagnostic] = {}
        for diagnostic in result.diagnostics:
            if diagnostic.code != PARSE_ERROR_CODE and (
                (self.apply_noqa and noqa.suppresses(diagnostic))
                or (file_noqa and any(code_matches(diagnostic.code, c) for c in file_noqa))
            ):
                continue
            if diagnostic.location.byte_columns:
                diagnostic.location = _character_columns(diagnostic.location, index)
            if any(related.location.byte_columns for related in diagnostic.related):
                diagnostic.related = tuple(
                    Related(_character_columns(r.location, index) if r.location.byte_columns else r.location, r.message)
                    for r in diagnostic.related)
            kept.setdefault(diagnostic.sort_key(), diagnostic)
        result.diagnostics = sorted(kept.values(), key=Diagnostic.sort_key)
        return result


def _fewest_words(words: tuple[str, ...]) -> tuple[str, ...]:
    """Any one of `words` must occur: without duplicates, and without a word that contains another
    (`authenticate_header`, beside `authenticate`). Only a word without `\\b` boundaries makes another
    redundant."""
    words = tuple(dict.fromkeys(words))
    plain = [w for w in words if "\\b" not in w]
    return tuple(w for w in words if not any(o != w and o in w for o in plain))


class TriggerWord:
    """A rule's trigger word, read once: `\\b` at either end asks for an identifier boundary there
    (`\\brequest\\b` is not found in `requested`), as in a regular expression."""

    __slots__ = ("bare", "starts", "ends")

    def __init__(self, word: str):
        self.starts, self.ends = word.startswith("\\b"), word.endswith("\\b")
        self.bare = word[2 if self.starts else 0 : -2 if self.ends else None]

    def found_in(self, text: str) -> bool:
        bare, starts, ends = self.bare, self.starts, self.ends
        if not (starts or ends):
            return bare in text
        index = text.find(bare)
        while index >= 0:
            end = index + len(bare)
            if (not starts or index == 0 or not _identifier_char(text[index - 1])) and (
                    not ends or end == len(text) or not _identifier_char(text[end])):
                return True
            index = text.find(bare, index + 1)
        return False


def _identifier_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _character_columns(location: Location, index: LineIndex) -> Location:
    return Location(location.path, location.line, index.char_column(location.line, location.col),
                    location.end_line, index.char_column(location.end_line, location.end_col))


def _span(location: Location) -> tuple[int, int, int, int]:
    return location.line, location.col, location.end_line, location.end_col


def _error_diagnostic(path: str, message: str, line: int, col: int) -> Diagnostic:
    return Diagnostic(PARSE_ERROR_CODE, message, Location(path, line, col, line, col), Severity.ERROR)


def _file_noqa_codes(text: str) -> set[str] | None:
    """None: no file-level noqa; empty set: the whole file is exempt; else exempt codes."""
    if "tenantlint" not in text:
        return None
    codes: set[str] = set()
    for match in _FILE_NOQA.finditer(text):
        if not match.group("codes"):
            return set()
        codes.update(c.upper() for c in _CODE_LIST.split(match.group("codes")) if c)
    return codes or None


class _LineSuppressions:
    """The `# noqa` comments of a file's lines, each line read once however many findings it has."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self._read: dict[int, list[list[str]] | None] = {}  # line -> code lists (empty list: every code)

    def suppresses(self, diagnostic: Diagnostic) -> bool:
        line = diagnostic.line
        if line not in self._read:
            self._read[line] = self._directives(line)
        directives = self._read[line]
        return directives is not None and any(
            not codes or any(code_matches(diagnostic.code, code) for code in codes) for codes in directives)

    def _directives(self, line: int) -> list[list[str]] | None:
        if not 0 < line <= len(self.lines) or "noqa" not in self.lines[line - 1].lower():
            return None
        found = [[c.upper() for c in _CODE_LIST.split(match.group("codes") or "") if c]
                 for match in _NOQA.finditer(self.lines[line - 1])]
        return found or None
