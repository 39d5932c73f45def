"""TL101's codemod: carry out the plans `_tl101_plan` made, with LibCST, keeping comments and layout.

Imported only when fixing. Every change names its node by position and text; a node
that is not found raises, so the fix engine drops the fix rather than apply half of it.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider

from tenantlint.rules.base import Span
from tenantlint.rules.state.attribute_uses import DROP, GET, GETATTR, RESET, SET, SET_DEFAULT, SET_TOKEN
from tenantlint.rules.state.state_plan import CONNECTION, CONTEXT_VAR, Change, StatePlan

_EXPRESSIONS = (cst.Attribute, cst.Call, cst.UnaryOperation)
_STATEMENTS = (cst.Assign, cst.AnnAssign, cst.Expr, cst.Del)
_LONGEST_LINE = 88  # black's


class FixNotApplicable(Exception):
    """The module no longer holds the code the plan was made for."""


def apply_plans(module: cst.Module, plans: list[StatePlan]) -> cst.Module:
    if not plans:
        return module
    wrapper = MetadataWrapper(module)
    rewriter = _Rewriter(_locate(wrapper, plans), module)
    rewritten = _add_imports(wrapper.module.visit(rewriter), plans)
    return _declare(rewritten, plans)


def _locate(wrapper: MetadataWrapper, plans: list[StatePlan]) -> dict[int, tuple[StatePlan, Change]]:
    wanted: dict[tuple, tuple[StatePlan, Change]] = {}
    for plan in plans:
        for change in plan.changes:
            statement = change.kind in (SET, SET_TOKEN, RESET, SET_DEFAULT, DROP)
            wanted[(statement, *_where(change.span))] = (plan, change)
    found: dict[int, tuple[StatePlan, Change]] = {}
    module = wrapper.module
    for node, where in wrapper.resolve(PositionProvider).items():
        if not isinstance(node, _EXPRESSIONS + _STATEMENTS):
            continue
        key = (isinstance(node, _STATEMENTS), where.start.line, where.start.column, where.end.line, where.end.column)
        entry = wanted.get(key)
        if entry is None or not _same_text(module, node, entry[1].span):
            continue
        if not isinstance(node, _STATEMENTS) and not isinstance(node, _expected(entry[1])):
            continue
        found[id(node)] = entry
        del wanted[key]
    if wanted:
        raise FixNotApplicable("the attribute's uses are no longer where they were found")
    return found


def _expected(change: Change) -> type:
    if change.kind == GET:
        return cst.Attribute
    return cst.UnaryOperation if change.negated else cst.Call


def _where(span: Span) -> tuple[int, int, int, int]:
    return span.line, span.col, span.end_line, span.end_col


def _same_text(module: cst.Module, node: cst.CSTNode, span: Span) -> bool:
    if isinstance(node, cst.BaseExpression):
        node = node.with_changes(lpar=(), rpar=())
    elif hasattr(node, "semicolon"):
        node = node.with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
    # rendered out of its block, a multi-line node loses its indentation: compare words only
    return module.code_for_node(node).split() == span.text.split()


class _Rewriter(cst.CSTTransformer):
    def __init__(self, found: dict[int, tuple[StatePlan, Change]], module: cst.Module):
        super().__init__()
        self.found = found
        self.module = module
        self.dropped: set[int] = set()
        self.wrap_after: dict[int, StatePlan] = {}  # lines (by id) after which the method resets the variable
        self.hoist: set[int] = set()  # lines (by id) to move above the `try` they open

    # -- expressions ---------------------------------------------------------
    def leave_Attribute(self, original_node, updated_node):
        entry = self.found.get(id(original_node))
        if entry is None:
            return updated_node
        plan, _ = entry
        parens = {"lpar": updated_node.lpar, "rpar": updated_node.rpar}
        if plan.form == CONNECTION:
            return cst.Name(plan.name, **parens)
        return _call(plan.name, "get").with_changes(**parens)

    def leave_Call(self, original_node, updated_node):
        entry = self.found.get(id(original_node))
        if entry is None:
            return updated_node
        plan, change = entry
        parens = {"lpar": updated_node.lpar, "rpar": updated_node.rpar}
        if change.kind == GETATTR:
            arguments = [updated_node.args[2].value] if change.keeps_default else []
            return _call(plan.name, "get", *arguments).with_changes(**parens)
        return self._hasattr(plan, change, updated_node)

    def leave_UnaryOperation(self, original_node, updated_node):
        entry = self.found.get(id(original_node))
        return updated_node if entry is None else self._hasattr(*entry, updated_node)

    @staticmethod
    def _hasattr(plan: StatePlan, change: Change, updated_node) -> cst.Comparison:
        """`VAR.get(UNSET) is not UNSET`, or `is UNSET` for `not hasattr(...)`."""
        operator = cst.Is() if change.negated else cst.IsNot()
        comparison = cst.Comparison(_call(plan.name, "get", cst.Name(plan.sentinel)),
                                    [cst.ComparisonTarget(operator, cst.Name(plan.sentinel))])
        if updated_node.lpar:
            return comparison.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)
        if change.parenthesize:
            return comparison.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return comparison

    # -- statements -------------------------------------------------------------
    def leave_Assign(self, original_node, updated_node):
        return self._statement(original_node, updated_node, lambda: updated_node.value)

    def leave_AnnAssign(self, original_node, updated_node):
        return self._statement(original_node, updated_node, lambda: updated_node.value)

    def leave_Expr(self, original_node, updated_node):
        # setattr(self, "x", value)
        return self._statement(original_node, updated_node, lambda: updated_node.value.args[2].value)

    def leave_Del(self, original_node, updated_node):
        return self._statement(original_node, updated_node, lambda: None)

    def _statement(self, original_node, updated_node, value):
        entry = self.found.get(id(original_node))
        if entry is None:
            return updated_node
        plan, change = entry
        if change.kind == DROP:
            self.dropped.add(id(original_node))
            return updated_node
        semicolon = {"semicolon": updated_node.semicolon}
        if change.kind == SET:
            return cst.Expr(_call(plan.name, "set", value()), **semicolon)
        if change.kind == SET_TOKEN:
            return cst.Assign([cst.AssignTarget(cst.Name(plan.token))], _call(plan.name, "set", value()), **semicolon)
        if change.kind == RESET:
            return cst.Expr(_call(plan.name, "reset", cst.Name(plan.token)), **semicolon)
        default = cst.parse_expression(plan.default, config=self.module.config_for_parsing)
        return cst.Expr(_call(plan.name, "set", default), **semicolon)

    def leave_SimpleStatementLine(self, original_node, updated_node):
        kept = self._kept(original_node, updated_node)
        if not kept:
            return cst.RemoveFromParent()
        updated_node = updated_node.with_changes(body=kept)
        for old in original_node.body:
            entry = self.found.get(id(old))
            if entry is not None and entry[1].kind == SET_TOKEN and entry[1].wrap:
                self.wrap_after[id(updated_node)] = entry[0]
            if entry is not None and entry[1].kind == SET_TOKEN and entry[1].hoist:
                self.hoist.add(id(updated_node))
        return updated_node

    def leave_SimpleStatementSuite(self, original_node, updated_node):
        return updated_node.with_changes(body=self._kept(original_node, updated_node) or [cst.Pass()])

    def _kept(self, original_node, updated_node) -> list[cst.BaseSmallStatement]:
        """The line's statements but the dropped ones; the last one keeps no dangling semicolon."""
        kept = [new for old, new in zip(original_node.body, updated_node.body) if id(old) not in self.dropped]
        if kept and len(kept) < len(updated_node.body):
            kept[-1] = kept[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        return kept

    def leave_IndentedBlock(self, original_node, updated_node):
        body = self._hoisted(list(updated_node.body))
        index = len(body) - 1
        while index >= 0:
            if id(body[index]) not in self.wrap_after:
                index -= 1
                continue
            # consecutive stores share one `try`, whose `finally` resets them in reverse order
            start = index
            while start > 0 and id(body[start - 1]) in self.wrap_after:
                start -= 1
            plans = [self.wrap_after[id(line)] for line in body[start:index + 1]]
            if index + 1 < len(body):
                body[index + 1:] = [_reset_finally(plans[::-1], body[index + 1:])]
            else:  # nothing runs after the stores: nothing to reset
                body[start:index + 1] = [_without_token(line) for line in body[start:index + 1]]
            index = start - 1
        if not body:
            body = [cst.SimpleStatementLine([cst.Pass()])]
        return updated_node.with_changes(body=body)

    def _hoisted(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        """`try: x_token = VAR.set(v); ...` → `x_token = VAR.set(v)` then `try: ...`."""
        result = []
        for statement in body:
            inner = statement.body.body if isinstance(statement, cst.Try) else ()
            if inner and id(inner[0]) in self.hoist and len(inner) > 1:
                store = inner[0].with_changes(leading_lines=[*statement.leading_lines, *inner[0].leading_lines])
                rest = [inner[1].with_changes(leading_lines=inner[1].leading_lines), *inner[2:]]
                result += [store, statement.with_changes(leading_lines=(), body=statement.body.with_changes(body=rest))]
            else:
                result.append(statement)
        return result


def _reset_finally(plans: list[StatePlan], rest: list[cst.BaseStatement]) -> cst.Try:
    """`try: <rest> finally: VAR.reset(token)`; the blank lines and comments above the first statement
    stay above the `try`."""
    first = rest[0]
    leading = first.leading_lines
    rest = [first.with_changes(leading_lines=()), *rest[1:]]
    resets = [cst.SimpleStatementLine([cst.Expr(_call(plan.name, "reset", cst.Name(plan.token)))]) for plan in plans]
    return cst.Try(cst.IndentedBlock(rest), finalbody=cst.Finally(cst.IndentedBlock(resets)), leading_lines=leading)


def _without_token(line: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
    """`x_token = VAR.set(v)` → `VAR.set(v)`."""
    assign = line.body[0]
    return line.with_changes(body=[cst.Expr(assign.value, semicolon=assign.semicolon), *line.body[1:]])


def _call(variable: str, method: str, *arguments: cst.BaseExpression) -> cst.Call:
    return cst.Call(cst.Attribute(cst.Name(variable), cst.Name(method)), [cst.Arg(a) for a in arguments])


# -- module level ------------------------------------------------------------------
def _declare(module: cst.Module, plans: list[StatePlan]) -> cst.Module:
    """The sentinel and the context variables, after the imports that precede the first class fixed."""
    lines = []
    sentinels = sorted({plan.sentinel for plan in plans if plan.sentinel})
    lines += [f"{sentinel} = object()" for sentinel in sentinels]
    lines += [_declaration(plan, module) for plan in plans if plan.form == CONTEXT_VAR]
    if not lines:
        return module
    config = module.config_for_parsing
    statements = [cst.parse_statement(line + module.default_newline, config=config) for line in lines]
    body = list(module.body)
    classes = {plan.class_name for plan in plans}
    first_class = next(i for i, s in enumerate(body) if isinstance(s, cst.ClassDef) and s.name.value in classes)
    imports = [i for i, s in enumerate(body[:first_class]) if _is_import(s)]
    if imports:
        at = imports[-1] + 1
        statements[0] = statements[0].with_changes(leading_lines=[cst.EmptyLine()])
    else:  # the declarations take the blank lines above the class; its comments stay with it
        at = first_class
        leading = body[at].leading_lines
        statements[0] = statements[0].with_changes(leading_lines=leading[:_blank_lines(leading)])
    body[at:at] = statements
    following = at + len(statements)
    if following < len(body) and isinstance(body[following], (cst.ClassDef, cst.FunctionDef)):
        leading = body[following].leading_lines
        missing = max(0, 2 - _blank_lines(leading))
        body[following] = body[following].with_changes(leading_lines=[cst.EmptyLine()] * missing + list(leading))
    return module.with_changes(body=body)


def _blank_lines(leading) -> int:
    """How many blank lines come before the first comment line."""
    count = 0
    while count < len(leading) and leading[count].comment is None:
        count += 1
    return count


def _declaration(plan: StatePlan, module: cst.Module) -> str:
    """One line, or black's layout when it would be too long."""
    if len(plan.declaration) <= _LONGEST_LINE:
        return plan.declaration
    head, _, arguments = plan.declaration.partition("(")
    newline = module.default_newline
    return f"{head}({newline}{module.default_indent}{arguments[:-1]}{newline})"


def _is_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body)


def _add_imports(module: cst.Module, plans: list[StatePlan]) -> cst.Module:
    context = CodemodContext()
    needed = {entry for plan in plans for entry in plan.imports}
    if not needed:
        return module
    for name, obj, alias in sorted(needed, key=str):
        AddImportsVisitor.add_needed_import(context, name, obj, alias)
    return AddImportsVisitor(context).transform_module(module)
