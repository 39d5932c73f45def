"""Applying the TL401 and TL402 guard plans with LibCST, keeping the module's comments and layout.

Imported only when fixing. The plans (`_audit_guard_plan`) name `ast` nodes; the
matching LibCST nodes are found by their position, which both count the same way
(lines from 1, columns in characters). A change whose node is not found raises,
so the fix engine drops the whole fix rather than apply part of it.
"""

from __future__ import annotations

import re

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from tenantlint.rules.edits.statements import Change, Insert, Replace, Rewrite, Wrap, span

_INDENT = re.compile(r"^((?:    )+)", re.MULTILINE)


def apply_changes(module: cst.Module, changes: list[Change], lines: list[str]) -> cst.Module:
    wrapper = MetadataWrapper(module)
    statements, attributes = {}, {}
    for node, where in wrapper.resolve(PositionProvider).items():
        start = (where.start.line, where.start.column)
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            statements[start] = node
        elif isinstance(node, cst.Attribute):
            attributes[(*start, where.end.line, where.end.column)] = node
    placer = _Placer()
    for change in changes:
        if isinstance(change, Rewrite):
            placer.renames[id(attributes[span(change.value, lines)])] = change.request
            continue
        anchor = statements[span(change.anchor if isinstance(change, Insert) else change.statement, lines)[:2]]
        if isinstance(change, Wrap):
            placer.wrap[id(anchor)] = (cst.parse_expression(change.condition), _parse(change.otherwise, module))
            continue
        parsed = _parse(change.code, module)
        if isinstance(change, Replace):
            placer.replace[id(anchor)] = parsed
        else:
            side = placer.after if change.after else placer.before
            side.setdefault(id(anchor), []).append((parsed, change.separate))
    return wrapper.module.visit(placer)


def _parse(code: str, module: cst.Module) -> list[cst.BaseStatement]:
    """Statements written with four-space indents and `\\n`, in the module's own indent and newline."""
    code = _INDENT.sub(lambda match: module.default_indent * (len(match.group(1)) // 4), code)
    code = code.replace("\n", module.default_newline)
    return list(cst.parse_module(code, config=module.config_for_parsing).body)


class _Placer(cst.CSTTransformer):
    def __init__(self):
        super().__init__()
        self.before: dict[int, list[tuple[list[cst.BaseStatement], bool]]] = {}
        self.after: dict[int, list[tuple[list[cst.BaseStatement], bool]]] = {}
        self.replace: dict[int, list[cst.BaseStatement]] = {}
        self.wrap: dict[int, tuple[cst.BaseExpression, list[cst.BaseStatement]]] = {}
        self.renames: dict[int, str] = {}

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        name = self.renames.get(id(original_node))
        return updated_node if name is None else updated_node.with_changes(value=cst.Name(name))

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock,
                            updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        return updated_node.with_changes(body=self._place(original_node.body, updated_node.body))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        return updated_node.with_changes(body=self._place(original_node.body, updated_node.body))

    def _place(self, originals, updated) -> list[cst.BaseStatement]:
        body: list[cst.BaseStatement] = []
        for original, statement in zip(originals, updated):
            key = id(original)
            if key in self.replace:
                body += _replaced(statement, self.replace[key])
            elif key in self.wrap:
                body.append(_wrapped(statement, *self.wrap[key]))
            elif key in self.before:
                body += _preceded(statement, self.before[key])
            else:
                body.append(statement)
            for inserted, separate in self.after.get(key, ()):
                body += [inserted[0].with_changes(leading_lines=[cst.EmptyLine()] if separate else []), *inserted[1:]]
        return body


def _replaced(statement: cst.BaseStatement, new: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """The first new line takes the old one's place, with its leading comments and trailing comment."""
    if not (isinstance(statement, cst.SimpleStatementLine) and isinstance(new[0], cst.SimpleStatementLine)):
        raise ValueError("only a simple statement line can be replaced")
    return [statement.with_changes(body=new[0].body), *new[1:]]


def _wrapped(statement: cst.BaseStatement, condition: cst.BaseExpression,
             otherwise: list[cst.BaseStatement]) -> cst.If:
    """`if condition:` around `statement`, `else:` around `otherwise`; comments above it stay above."""
    return cst.If(test=condition, body=cst.IndentedBlock(body=[statement.with_changes(leading_lines=[])]),
                  orelse=cst.Else(body=cst.IndentedBlock(body=otherwise)), leading_lines=statement.leading_lines)


def _preceded(statement: cst.BaseStatement, inserts) -> list[cst.BaseStatement]:
    """Inserted code takes the blank lines above `statement`; comments above it stay with it,
    and so do the blank lines a definition keeps above itself."""
    leading = list(statement.leading_lines)
    blank = 0
    while blank < len(leading) and leading[blank].comment is None:
        blank += 1
    body: list[cst.BaseStatement] = []
    lead = leading[:blank]
    for inserted, separate in inserts:
        body += [inserted[0].with_changes(leading_lines=lead), *inserted[1:]]
        lead = [cst.EmptyLine()] if separate else []
    if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
        lead = leading[:blank] or lead
    return body + [statement.with_changes(leading_lines=lead + leading[blank:])]
