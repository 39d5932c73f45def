"""What a rule is: one class per module, whose metadata is its documentation."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, ClassVar, Iterable, Iterator

from tenantlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, Severity

if TYPE_CHECKING:
    from tenantlint.config import Options
    from tenantlint.engine import FileContext
    from tenantlint.fixing import FixContext
    from tenantlint.settings_facts import SettingsView


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
    # words every one of which must occur too
    requires: ClassVar[tuple[str, ...]] = ()
    settings_rule: ClassVar[bool] = False
    reviews_suppressions: ClassVar[bool] = False
    example_filename: ClassVar[str] = "example.py"
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
