"""TL501's and TL502's codemods: carry out the plans made while checking (`_token_fix_plan`).

Imported only when fixing, so a plain check never loads libcst. Nodes are found
again by position; where the words there are not the ones the plan saw (another
rule's fix moved them), the fix raises and the fix engine retries it alone.
"""

from __future__ import annotations

import ast
import re

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from tenantlint.model.project import ImportTable
from tenantlint.rules.edits.statements import (
    Change,
    Replace,
    alone_on_lines,
    import_insert,
    leading_imports,
)
from tenantlint.rules.edits.statements_cst import apply_changes
from tenantlint.rules.tokens.token_checks import COMPARISON, NEUTRAL, FailClosed, Spot, TenantCheck
from tenantlint.sourcefile import split_lines

_INDENT = re.compile(r"^((?:    )+)", re.MULTILINE)
_FLIPPED = {cst.Is: cst.IsNot, cst.IsNot: cst.Is, cst.In: cst.NotIn, cst.NotIn: cst.In}
# Operands that need parentheses after `not` or inside `and`/`or`.
_LOOSE = (cst.NamedExpr, cst.BooleanOperation, cst.IfExp, cst.Lambda)


class PlanMismatch(Exception):
    """The module no longer holds what the plan was made for."""


# -- TL501 ------------------------------------------------------------------------------------

def insert_checks(module: cst.Module, checks: list[TenantCheck]) -> cst.Module:
    wrapper = MetadataWrapper(module)
    anchors: dict[tuple[int, int], cst.BaseStatement] = {}
    for node, where in wrapper.resolve(PositionProvider).items():
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            anchors[(where.start.line, where.start.column)] = node
    lines = split_lines(module.code)
    inserts: dict[int, tuple[list[cst.BaseStatement], bool]] = {}
    for check in checks:
        anchor = anchors.get((check.anchor.line, check.anchor.col))
        if anchor is None or tuple(lines[check.anchor.line - 1][check.anchor.col:].split()) != check.anchor.words:
            raise PlanMismatch(f"no statement for the tenant check at line {check.anchor.line}")
        inserts[id(anchor)] = (_statements(check.code, module), check.separate)
    checked = wrapper.module.visit(_Inserter(inserts))
    text = checked.code
    tree, lines = ast.parse(text), split_lines(text)
    changes = _imports(tree, lines, {pair for check in checks for pair in check.imports})
    return apply_changes(checked, changes, lines) if changes else checked


def _statements(code: str, module: cst.Module) -> list[cst.BaseStatement]:
    """Statements written with four-space indents and `\\n`, in the module's own indent and newline."""
    code = _INDENT.sub(lambda match: module.default_indent * (len(match.group(1)) // 4), code)
    return list(cst.parse_module(code.replace("\n", module.default_newline), config=module.config_for_parsing).body)


class _Inserter(cst.CSTTransformer):
    """Puts each check before its statement: the check takes the blank lines above the statement, the
    statement keeps its comments, and a blank line parts them where the statement opened a paragraph."""

    def __init__(self, inserts: dict[int, tuple[list[cst.BaseStatement], bool]]):
        super().__init__()
        self.inserts = inserts

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock,
                            updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        return updated_node.with_changes(body=self._placed(original_node.body, updated_node.body))

    def _placed(self, originals, updated) -> list[cst.BaseStatement]:
        body: list[cst.BaseStatement] = []
        for original, statement in zip(originals, updated):
            if id(original) not in self.inserts:
                body.append(statement)
                continue
            check, separate = self.inserts[id(original)]
            leading = list(statement.leading_lines)
            blank = next((i for i, line in enumerate(leading) if line.comment is not None), len(leading))
            apart = [cst.EmptyLine(indent=False)] if separate else []
            body += [check[0].with_changes(leading_lines=leading[:blank]), *check[1:],
                     statement.with_changes(leading_lines=apart + leading[blank:])]
        return body


def _imports(tree: ast.Module, lines: list[str], wanted: set[tuple[str, str]]) -> list[Change]:
    """`from module import name` for each pair not imported yet: added to a one-line import of the
    same module at the head of the file, else on a line of its own in its isort section."""
    bound = ImportTable(tree, "", False).bindings
    names: dict[str, list[str]] = {}
    for module, name in sorted(wanted):
        if bound.get(name) != f"{module}.{name}":
            names.setdefault(module, []).append(name)
    changes: list[Change] = []
    for module, added in names.items():
        merged = next((s for s in leading_imports(tree) if isinstance(s, ast.ImportFrom) and s.module == module
                       and not s.level and s.lineno == s.end_lineno and alone_on_lines(s, lines)
                       and all(a.name != "*" for a in s.names)), None)
        if merged is None:
            changes.append(import_insert(tree, f"from {module} import {', '.join(added)}\n", module, from_import=True))
            continue
        present = [a.name if a.asname is None else f"{a.name} as {a.asname}" for a in merged.names]
        if [a.name for a in merged.names] == sorted(a.name for a in merged.names):
            spelled = sorted(present + added, key=lambda alias: alias.split()[0])
        else:
            spelled = present + added
        changes.append(Replace(merged, f"from {module} import {', '.join(spelled)}\n"))
    return changes


# -- TL502 ------------------------------------------------------------------------------------

def fail_closed(module: cst.Module, plans: list[FailClosed]) -> cst.Module:
    wrapper = MetadataWrapper(module)
    nodes: dict[tuple[int, int, int, int], cst.BaseExpression] = {}
    for node, where in wrapper.resolve(PositionProvider).items():
        if isinstance(node, cst.BaseExpression):
            nodes.setdefault((where.start.line, where.start.column, where.end.line, where.end.column), node)

    def found(spot: Spot) -> cst.BaseExpression:
        node = nodes.get((spot.line, spot.col, spot.end_line, spot.end_col))
        bare = node.with_changes(lpar=(), rpar=()) if node is not None else None  # `ast` spans leave them out
        if bare is None or tuple(wrapper.module.code_for_node(bare).split()) != spot.words:
            raise PlanMismatch(f"no tenant check at line {spot.line}")
        return node

    replacements: dict[int, cst.CSTNode] = {}
    for plan in plans:
        test = found(plan.test)
        if plan.default is not None:
            call = found(plan.default)
            key = call.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            replacements[id(call)] = call.with_changes(args=[key])
        else:
            parts = [(found(spot), role) for spot, role in plan.parts]
            replacements[id(test)] = _rebuilt(test, parts, plan.rejects, plan.returned)
    return wrapper.module.visit(_Replacer(replacements))


def _rebuilt(test: cst.BaseExpression, parts: list[tuple[cst.BaseExpression, str]], rejects: bool,
             returned: bool) -> cst.BaseExpression:
    """`kept and (not present or mismatch)` for a rejecting test, `kept or (not absent and match)` for an
    accepting one: for tokens with the claim the same test, for tokens without it a mismatch. A returned
    predicate stays a bool: `bool(claim) and claim == schema`. The joins keep the test's own line breaks
    and comments, in order."""
    kept = [node for node, role in parts if role == NEUTRAL]
    claim = [_negated(node) for node, role in parts if role not in (NEUTRAL, COMPARISON)]
    if returned and not rejects:
        claim = [node if isinstance(node, (cst.Comparison, cst.UnaryOperation))
                 else cst.Call(func=cst.Name("bool"), args=[cst.Arg(node.with_changes(lpar=(), rpar=()))])
                 for node in claim]
    claim += [node for node, role in parts if role == COMPARISON]
    joins = _operators(test, {id(node) for node, _ in parts})
    if len(joins) != len(parts) - 1:
        raise PlanMismatch("the test's operands are not the ones planned")
    rebuilt = _joined(claim, cst.Or if rejects else cst.And, joins[len(kept):])
    if kept:
        rebuilt = _joined([*kept, _parenthesized(rebuilt)], cst.And if rejects else cst.Or, joins[:len(kept)])
    return rebuilt.with_changes(lpar=test.lpar, rpar=test.rpar)


def _operators(node: cst.BaseExpression, parts: set[int]) -> list[cst.BaseBooleanOp]:
    """The `and`/`or` operators between the operands of a test, in the order they are written."""
    if id(node) in parts or not isinstance(node, cst.BooleanOperation):
        return []
    return [*_operators(node.left, parts), node.operator, *_operators(node.right, parts)]


def _joined(operands: list[cst.BaseExpression], operator, joins: list[cst.BaseBooleanOp]) -> cst.BaseExpression:
    joined = operands[0]
    for operand, join in zip(operands[1:], joins):
        spaced = operator(whitespace_before=join.whitespace_before, whitespace_after=join.whitespace_after)
        joined = cst.BooleanOperation(left=joined, operator=spaced, right=operand)
    return joined


def _parenthesized(node: cst.BaseExpression) -> cst.BaseExpression:
    if node.lpar or not isinstance(node, _LOOSE):
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _negated(node: cst.BaseExpression) -> cst.BaseExpression:
    """`claim` -> `not claim`, `not claim` -> `claim`, `claim is not None` -> `claim is None`,
    `key in token` -> `key not in token`."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not) and not node.lpar:
        return node.expression
    if isinstance(node, cst.Comparison) and len(node.comparisons) == 1 and not node.lpar:
        target = node.comparisons[0]
        flipped = _FLIPPED.get(type(target.operator))
        if flipped is not None:
            operator = flipped(whitespace_before=target.operator.whitespace_before,
                               whitespace_after=target.operator.whitespace_after)
            return node.with_changes(comparisons=[target.with_changes(operator=operator)])
    return cst.UnaryOperation(operator=cst.Not(), expression=_parenthesized(node))


class _Replacer(cst.CSTTransformer):
    def __init__(self, replacements: dict[int, cst.CSTNode]):
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node, updated_node):
        return self.replacements.get(id(original_node), updated_node)
