"""What a rule is (one class per module, whose metadata is its documentation) and what it is given:
the file being checked, with the project model below it, and the file being fixed. The engine and the
fixer build these contexts; the rules only read them, so this module imports nothing above the model."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, Iterable, Iterator

from tenantlint.config import Config
from tenantlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, Severity
from tenantlint.model.execution import ExecutionMap
from tenantlint.model.project import ImportTable, ModuleInfo, Project
from tenantlint.model.project_text import ProjectText
from tenantlint.model.serializer_use import SerializerUse
from tenantlint.model.settings import SettingsReader, SettingsView
from tenantlint.model.tenancy import Tenancy
from tenantlint.model.test_code import is_test_code
from tenantlint.sourcefile import LineIndex, SourceText

if TYPE_CHECKING:
    from tenantlint.config import Options


@dataclass(frozen=True)
class Span:
    """Where a node is (lines 1-based, columns 0-based characters) and its text: a codemod finds the node
    again in LibCST's tree by it, and refuses a tree that has moved since."""

    line: int
    col: int
    end_line: int
    end_col: int
    text: str


class FileContext:
    """What a rule may ask about the file being checked."""

    def __init__(self, path: str, source: SourceText, tree: ast.Module, module: ModuleInfo, project: Project,
                 config: Config, settings: SettingsReader, tenancy_of=None, serializer_use_of=None,
                 project_text_of=None, context_of=None):
        self.path = path
        self._context_of = context_of
        self.settings = settings
        self._tenancy_of = tenancy_of
        self._serializer_use_of = serializer_use_of
        self._project_text_of = project_text_of
        self.source = source
        self.tree = tree
        self.module = module
        self.project = project
        self.config = config
        self.options = config.options
        self.parents: list[ast.AST] = []

    @cached_property
    def line_index(self) -> LineIndex:
        return LineIndex(self.source.text)

    @cached_property
    def lines(self) -> list[str]:
        return [line.rstrip("\r\n") for line in self.line_index.lines]

    def segment(self, node: ast.AST) -> str | None:
        """The node's source text (`ast.get_source_segment`, without re-splitting the file)."""
        return self.line_index.segment(node)

    def char_span(self, node: ast.AST) -> tuple[int, int, int, int]:
        """A node's start and end with character columns, as diagnostics and LibCST count them."""
        index = self.line_index
        return (node.lineno, index.char_column(node.lineno, node.col_offset),
                node.end_lineno, index.char_column(node.end_lineno, node.end_col_offset))

    def span(self, node: ast.AST) -> "Span":
        return Span(*self.char_span(node), self.segment(node) or "")

    @cached_property
    def governing_settings(self) -> list[SettingsView]:
        """The leaf settings this file's code runs with (those of its own source tree)."""
        return self.settings.views_governing(self.path)

    @cached_property
    def tenancy(self) -> Tenancy:
        """The tenancy model of this file's project (what makes a key or a token leak)."""
        return self._tenancy_of(self.path, self.governing_settings)

    def tenancy_under(self, view: SettingsView) -> Tenancy:
        """The tenancy of the code one settings view governs (a settings rule judges each leaf)."""
        return self._tenancy_of(view.leaf, [view])

    @cached_property
    def project_text(self) -> ProjectText:
        """The text of this file's project, for questions across files."""
        return self._project_text_of(self.path, self.governing_settings)

    def project_text_under(self, view: SettingsView) -> ProjectText:
        """The Python files of the code one settings view governs (a settings rule judges each leaf)."""
        return self._project_text_of(view.leaf, [view])

    def context_of(self, path: str) -> "FileContext | None":
        """What a rule may ask about another file of the project (a settings rule counting what the
        settings govern); None for a file that cannot be parsed and for test code the rules skip."""
        return self._context_of(path)

    @cached_property
    def serializer_use(self) -> SerializerUse:
        """Which views of this file's project use a serializer, and what they require."""
        return self._serializer_use_of(self.path, self.governing_settings)

    @cached_property
    def execution(self) -> ExecutionMap:
        """Where each function of this file runs (request, background, test) and whether on an event loop."""
        return ExecutionMap(self.module, self.project, is_test=is_test_code(self.path),
                            is_settings=self.settings.is_settings_module(self.path))

    @property
    def imports(self) -> ImportTable:
        return self.module.imports

    def location(self, node: ast.AST) -> Location:
        return Location.of(self.path, node)


@dataclass
class FixContext:
    """What a codemod may need besides the module: the file and its newline style."""

    path: str
    newline: str


# the project the examples of a rule about schemas per tenant run in (and its page shows): orders per tenant
SCHEMA_PER_TENANT_SETTINGS = """\
SHARED_APPS = ["django_tenants", "customers"]
TENANT_APPS = ["orders"]
INSTALLED_APPS = SHARED_APPS + TENANT_APPS
TENANT_MODEL = "customers.Client"
"""


class Rule:
    """Base class. Subclasses fill the metadata and override `visit` or `check_settings`.

    `invalid` and `valid` hold example modules; lines carrying `# TL301` (the
    rule's code) mark expected findings. The examples are run as tests and
    printed as documentation, so they cannot drift from the detector.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    what: ClassVar[str]
    why: ClassVar[str]
    avoids: ClassVar[str] = ""
    fix_description: ClassVar[str] = "No automatic fix yet."
    # "safe", "unsafe", "safe or unsafe" (decided per finding, see fix_description), or None: no fix
    fix_safety: ClassVar[str | None] = None
    options: ClassVar[tuple[str, ...]] = ()
    severity: ClassVar[Severity] = Severity.WARNING
    default_enabled: ClassVar[bool] = True
    node_types: ClassVar[tuple[type[ast.AST], ...]] = ()
    # words one of which must occur in a file's text for the rule to run on it (empty: every file);
    # `\b` at either end asks for an identifier boundary there (r"\brequest\b" is not in `requested`)
    triggers: ClassVar[tuple[str, ...]] = ()
    # words every one of which must occur too; `a|b` is one of them: `a` or `b`
    requires: ClassVar[tuple[str, ...]] = ()
    # finds nothing where the settings list no TENANT_APPS: the engine then skips it without parsing the file
    needs_tenant_apps: ClassVar[bool] = False
    # patterns one of which the file's text must match besides the words (a write, not a mere mention),
    # checked last; each best starts with a literal, which `re` then finds as fast as `in` does
    text_pattern: ClassVar["tuple[re.Pattern[str], ...] | None"] = None
    settings_rule: ClassVar[bool] = False
    reviews_suppressions: ClassVar[bool] = False
    example_filename: ClassVar[str] = "example.py"
    # the project settings the examples run under (written beside them as settings.py), when the rule needs them
    example_settings: ClassVar[str] = ""
    # other files of the examples' project (name: text), written beside them and shown in the page
    example_files: ClassVar[dict[str, str]] = {}
    invalid: ClassVar[tuple[str, ...]] = ()
    valid: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: "Options"):
        self.options = options

    def visit(self, node: ast.AST, ctx: "FileContext") -> Iterable[Diagnostic]:
        return ()

    def check_settings(self, view: "SettingsView", ctx: "FileContext") -> Iterable[Diagnostic]:
        return ()

    def finish(self, ctx: "FileContext") -> Iterable[Diagnostic]:
        """After the traversal of a file: findings that gather what `visit` saw across the file."""
        return ()

    def review(self, ctx: "FileContext", diagnostics: list[Diagnostic], enabled: set[str]) -> Iterable[Diagnostic]:
        """For rules about suppressions: look at the file's findings before `# noqa` filters them."""
        return ()

    def apply_fixes(self, module, diagnostics: list[Diagnostic], context: "FixContext"):
        """Codemod fixes: return `module` (a libcst.Module) rewritten to repair `diagnostics`.

        Only called for diagnostics whose fix has no textual edits, and only
        when the user asked to fix or diff, so libcst is imported here lazily.
        """
        raise NotImplementedError(f"{self.code} has no codemod fix")

    def diagnostic(self, location: Location, message: str, severity: Severity | None = None, fix: Fix | None = None) -> Diagnostic:
        return Diagnostic(self.code, message, location, severity or self.severity, fix)

    def fix(self, message: str, edits: Iterable[Edit] = ()) -> Fix:
        """A fix with this rule's safety; without edits it is a codemod (see `apply_fixes`)."""
        applicability = Applicability.SAFE if self.fix_safety == "safe" else Applicability.UNSAFE
        return Fix(applicability, message, tuple(edits))


_REGISTRY: dict[str, type[Rule]] = {}


def register(rule: type[Rule]) -> type[Rule]:
    if rule.code in _REGISTRY and _REGISTRY[rule.code] is not rule:
        raise ValueError(f"duplicate rule code {rule.code}")
    _REGISTRY[rule.code] = rule
    return rule


def registered() -> Iterator[type[Rule]]:
    yield from (rule for _, rule in sorted(_REGISTRY.items()))
