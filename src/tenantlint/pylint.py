"""pylint plugin: `pylint --load-plugins=tenantlint.pylint`.

Each rule is one pylint message (msgid `?88xy` for TLxay, symbol = the rule's
name), so `# pylint: disable=shared-request-state` works; `# noqa: TL101` is
honoured by the engine. astroid's inference adds what static import reading
cannot see: the ancestors of a class through installed libraries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pylint.checkers import BaseRawFileChecker

from tenantlint.diagnostics import Severity
from tenantlint.frontend import check_one_file, engine_for
from tenantlint.rules import all_rules

if TYPE_CHECKING:
    from astroid import nodes
    from pylint.lint import PyLinter

_LETTER = {Severity.ERROR: "E", Severity.WARNING: "W", Severity.INFO: "C"}


def msgid(rule) -> str:
    """TL101 -> E8811: checker block 88, then the code's first and last digits."""
    return f"{_LETTER[rule.severity]}88{rule.code[2]}{rule.code[4]}"


class TenantlintChecker(BaseRawFileChecker):
    name = "tenantlint"
    msgs = {
        msgid(rule): ("%s", rule.name, f"{rule.code}: {rule.summary}.")
        for rule in all_rules()
    }
    _symbols = {rule.code: rule.name for rule in all_rules()}

    def process_module(self, node: "nodes.Module") -> None:
        if not node.file or not node.file.endswith(".py"):
            return
        engine = engine_for(node.file)
        _teach_ancestors(engine, node)
        result = check_one_file(engine, node.file)
        for diagnostic in result.diagnostics:
            symbol = self._symbols.get(diagnostic.code)
            if symbol is None:
                continue  # TL000: pylint reports syntax errors itself
            self.add_message(symbol, line=diagnostic.line, col_offset=diagnostic.col, end_lineno=diagnostic.end_line,
                             end_col_offset=diagnostic.end_col, args=(f"{diagnostic.code} {diagnostic.message}",))
        for error in result.errors:
            self.linter.add_message("fatal", line=1, args=f"tenantlint internal error in {error.rule}: {error.reason}")


def _teach_ancestors(engine, module: "nodes.Module") -> None:
    """Give the engine astroid's view of each class's ancestors (through installed packages)."""
    from astroid import nodes

    for klass in module.nodes_of_class(nodes.ClassDef):
        try:
            names = {ancestor.qname() for ancestor in klass.ancestors()}
        except Exception:  # inference is best effort; the engine's own reading still applies
            continue
        engine.project.known_ancestors[klass.qname()] = frozenset(names)


def register(linter: "PyLinter") -> None:
    linter.register_checker(TenantlintChecker(linter))
