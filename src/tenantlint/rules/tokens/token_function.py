"""How one function handles decoded tokens, shared by TL501 and TL502.

`TokenFunction` reads a function for where its tokens come from (`TokenSources`), which users it
looks up from them (`UserLookups`), and which comparisons of the tenant claim to the active tenant it
makes and whether a token without the claim gets past them (here).
"""

from __future__ import annotations

import ast
import itertools
from functools import cached_property
from typing import Iterator

from tenantlint.model import flow
from tenantlint.rules.tokens.token_sources import ABSENT, MATCH, MISMATCH, MISSING, NEUTRAL, PRESENT, SCOPES, identifier
from tenantlint.rules.tokens.user_lookups import UserLookups
from tenantlint.trees import child_nodes, walk


class TokenFunction(UserLookups):
    """One function read for tokens: sources, token-derived names, user lookups and tenant-claim checks.

    `depth` 0 is the function being checked. Helpers it calls and the hooks of its
    class are read at depth 1 without following further calls, and with `loose`
    claim reads: a helper rarely shows where its token came from, so a receiver
    named like one (`token`, `payload`, `claims`) counts as a token.
    """

    def is_tenant_comparison(self, node: ast.AST) -> bool:
        """`claim != connection.schema_name` and its spellings."""
        if not isinstance(node, ast.Compare) or not any(isinstance(op, _EQUALITY) for op in node.ops):
            return False
        operands = [node.left, *node.comparators]
        return any(self.is_claim(o) for o in operands) and any(self.is_active(o) for o in operands)

    def is_user_tenant_comparison(self, node: ast.AST) -> bool:
        """`user.tenant_id != request.tenant.id`: the user found belongs to the tenant being served."""
        if not isinstance(node, ast.Compare) or not any(isinstance(op, _EQUALITY) for op in node.ops):
            return False
        operands = [node.left, *node.comparators]
        users = [o for o in operands if self._user_tenant(o)]
        return bool(users) and any(all(o is not u for u in users) and self.is_active(o) for o in operands)

    def _user_tenant(self, expr: ast.AST) -> bool:
        attributes = []
        while isinstance(expr, ast.Attribute):
            attributes.append(expr.attr.lower())
            expr = expr.value
        return (isinstance(expr, ast.Name) and "user" in expr.id.lower()
                and any("tenant" in a or a.removesuffix("_id") in self._scope_attributes for a in attributes))

    def tenant_comparisons(self, expr: ast.AST) -> list[ast.Compare]:
        return [n for n in walk(expr) if self.is_tenant_comparison(n)]

    @cached_property
    def has_tenant_check(self) -> bool:
        return any(self.is_tenant_comparison(n) for n in self.nodes)

    def is_guarded(self, lookup: ast.Call) -> bool:
        """A comparison of the claim to the active tenant holds on every path to the lookup, or right after it."""
        if any(self._atom_guards(atom) for atom in flow.known_at(self.function, lookup)):
            return True
        if any(self._statement_checks(s) for block, index, _ in self._enclosing_blocks(lookup) for s in block[:index]):
            return True
        return self._checked_before_returning(lookup)

    def _atom_guards(self, atom: flow.Atom) -> bool:
        expr = atom.expr
        if isinstance(expr, ast.Compare) and len(expr.ops) == 1 and (
                self.is_tenant_comparison(expr) or self.is_user_tenant_comparison(expr)):
            return atom.holds == isinstance(expr.ops[0], _POSITIVE)
        return any(self.is_tenant_comparison(n) or self.is_user_tenant_comparison(n) or (isinstance(n, ast.Name) and n.id in self.verdict_names)
                   or (isinstance(n, ast.Call) and self.callee_kind(n) == "checks") for n in walk(expr))

    def _statement_checks(self, statement: ast.stmt) -> bool:
        """A statement that stops a mismatching token: `if claim != schema: raise`, `self.check_tenant(token)`."""
        if isinstance(statement, ast.Assert):
            return any(self._atom_guards(atom) for atom in flow.atoms(statement.test, True))
        if isinstance(statement, ast.If):
            body_exits, else_exits = flow.always_exits(statement.body), flow.always_exits(statement.orelse)
            if body_exits == else_exits:
                return False
            return any(self._atom_guards(atom) for atom in flow.atoms(statement.test, else_exits))
        if not isinstance(statement, (ast.Expr, ast.Assign, ast.AnnAssign)):
            return False
        value = statement.value
        if isinstance(value, ast.Await):
            value = value.value
        return isinstance(value, ast.Call) and self.callee_kind(value) == "checks"

    def _checked_before_returning(self, lookup: ast.Call) -> bool:
        """`user = super().get_user(token)` then `if claim != schema: raise`: the user is never handed out."""
        for depth, (block, index, holder) in enumerate(self._enclosing_blocks(lookup)):
            if depth == 0 and _returns(block[index]):
                return False
            for statement in block[index + 1:]:
                if self._statement_checks(statement):
                    return True
                if _returns(statement):
                    return False
            if not isinstance(holder, (ast.If, ast.With, ast.AsyncWith, ast.Try, ast.ExceptHandler)):
                return False
        return False

    def _enclosing_blocks(self, node: ast.AST) -> Iterator[tuple[list[ast.stmt], int, ast.AST]]:
        """(statement list, index of the statement holding `node`, holder of the list), innermost first."""
        current = node
        while current is not self.function and current in self.parent:
            holder = self.parent[current]
            if isinstance(current, ast.stmt):
                for _, value in ast.iter_fields(holder):
                    if isinstance(value, list) and any(item is current for item in value):
                        yield value, next(i for i, item in enumerate(value) if item is current), holder
                        break
            current = holder

    def tenant_checks(self) -> list[tuple[ast.stmt, ast.expr]]:
        """(statement, test) for `if`, `while` and `assert` tests comparing the claim to the active tenant,
        and for predicates returned by a helper (`return not claim or claim == schema`)."""
        checks = []
        for node in self.nodes:
            if isinstance(node, (ast.If, ast.While, ast.Assert)) and self.tenant_comparisons(node.test):
                checks.append((node, node.test))
            elif (isinstance(node, ast.Return) and isinstance(node.value, (ast.Compare, ast.BoolOp, ast.UnaryOp))
                  and self.tenant_comparisons(node.value)):
                checks.append((node, node.value))
        return checks

    def fail_open(self, check: ast.stmt, test: ast.expr) -> tuple[str, ast.ExceptHandler | None] | None:
        """('skipped', None) or ('swallowed', handler) when a token lacking the claim gets past the check.

        The test is evaluated for three tokens: one whose claim matches the active
        tenant, one whose claim differs, and one without the claim; a check nested in
        `if claim is not None:` is skipped when that test fails, which for an `if`
        is its test being false and for an `assert` its passing (a returned predicate
        is judged on its own). Atoms that say nothing about the claim
        (`current_schema and ...`) are tried both ways; only settings of them under
        which the test tells match from mismatch count.
        """
        enclosing = [] if isinstance(check, ast.Return) else self._enclosing_conditions(check)
        conditions = [*enclosing, (test, True)]
        skipped = isinstance(check, ast.Assert)
        unknown = [atom for expr, _ in conditions for atom in self._unknown_atoms(expr)][:_MAX_UNKNOWN_ATOMS]

        def outcome(scenario: str, chosen: dict[int, bool]) -> bool:
            for expr, holds in conditions[:-1]:
                if self._evaluate(expr, scenario, chosen) != holds:
                    return skipped
            return self._evaluate(test, scenario, chosen)

        for values in itertools.product((True, False), repeat=len(unknown)):
            chosen = {id(atom): value for atom, value in zip(unknown, values)}
            accepted = outcome(MATCH, chosen)
            if accepted == outcome(MISMATCH, chosen):
                continue
            try:
                missing = outcome(MISSING, chosen)
            except _ClaimRaises as raised:
                if raised.handler is not None:
                    return "swallowed", raised.handler
                continue
            if missing == accepted:
                return "skipped", None
        return None

    def _enclosing_conditions(self, node: ast.AST) -> list[tuple[ast.expr, bool]]:
        """Tests of the `if` statements the node sits in, outermost first, with the value they need.

        An `if` whose other branch always exits is left out: a token sent there is
        turned away, not let through unchecked.
        """
        conditions = []
        current = node
        while current in self.parent and current is not self.function:
            holder = self.parent[current]
            if isinstance(holder, ast.If) and current is not holder.test:
                in_body = any(s is current for s in holder.body)
                if not flow.always_exits(holder.orelse if in_body else holder.body):
                    conditions.append((holder.test, in_body))
            current = holder
        return conditions[::-1]

    def _operands(self, expr: ast.expr) -> list[ast.expr] | None:
        """The parts a boolean test is made of, or None for an atom."""
        if isinstance(expr, ast.BoolOp):
            return expr.values
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
            return [expr.operand]
        if isinstance(expr, ast.NamedExpr):
            return [expr.value]
        if isinstance(expr, ast.Name) and expr.id in self.verdict_names:
            value = self._assigned_value(expr.id)
            return [value] if value is not None else None
        return None

    def claim_role(self, expr: ast.expr) -> str | None:
        """PRESENT when the operand is true exactly for tokens carrying the claim (`claim is not None`,
        `'tenant_schema' in token`), ABSENT for the opposite, NEUTRAL when it says nothing about the
        claim (`current_schema`); None for anything else, a comparison of the claim included."""
        if not self._unknown_atoms(expr):
            try:
                values = [self._evaluate(expr, scenario, {}) for scenario in (MATCH, MISMATCH, MISSING)]
            except _ClaimRaises:
                return None
            return {(True, True, False): PRESENT, (False, False, True): ABSENT}.get(tuple(values))
        if self.is_claim(expr) or any(self._atom_value(a, MATCH) is not None for a in self._atoms_of(expr)):
            return None
        return NEUTRAL

    def _atoms_of(self, expr: ast.expr) -> list[ast.expr]:
        operands = self._operands(expr)
        return [expr] if operands is None else [atom for operand in operands for atom in self._atoms_of(operand)]

    def _unknown_atoms(self, expr: ast.expr) -> list[ast.expr]:
        """Atoms that say nothing about the claim, e.g. `current_schema` in `current_schema and ...`."""
        operands = self._operands(expr)
        if operands is not None:
            return [atom for operand in operands for atom in self._unknown_atoms(operand)]
        return [expr] if self._atom_value(expr, MATCH) is None else []

    def _evaluate(self, expr: ast.expr, scenario: str, chosen: dict[int, bool]) -> bool:
        """The test's value for a token in `scenario`, short-circuiting as Python does."""
        if isinstance(expr, ast.BoolOp):
            stop = isinstance(expr.op, ast.Or)
            return stop if any(self._evaluate(v, scenario, chosen) == stop for v in expr.values) else not stop
        operands = self._operands(expr)
        if operands is not None:
            value = self._evaluate(operands[0], scenario, chosen)
            return not value if isinstance(expr, ast.UnaryOp) else value
        known = self._atom_value(expr, scenario)
        return chosen.get(id(expr), True) if known is None else known

    def _atom_value(self, expr: ast.expr, scenario: str) -> bool | None:
        if isinstance(expr, ast.Compare):
            return self._compare_value(expr, scenario) if len(expr.ops) == 1 else None
        if self.is_claim(expr) and not isinstance(expr, (ast.BoolOp, ast.UnaryOp)):
            return True if scenario != MISSING else _truthy(self.missing_value(expr, expr))
        return None

    def _compare_value(self, node: ast.Compare, scenario: str) -> bool | None:
        op, left, right = node.ops[0], node.left, node.comparators[0]
        positive = isinstance(op, _POSITIVE)
        if self.is_tenant_comparison(node):
            if scenario == MISSING:
                claim = left if self.is_claim(left) else right
                equal = self.missing_value(claim, node) == ("active",)
            else:
                equal = scenario == MATCH
            return equal == positive
        if isinstance(op, (ast.In, ast.NotIn)) and self.is_claim_key(left) and (self.derives(right) or self.loose):
            return (scenario != MISSING) == positive
        for claim, other in ((left, right), (right, left)):
            if isinstance(other, ast.Constant) and other.value is None and self.is_claim(claim):
                is_none = scenario == MISSING and self.missing_value(claim, node) == ("none",)
                return is_none == positive
        return None

    def missing_value(self, expr: ast.expr, test: ast.AST) -> tuple:
        """What a claim expression holds for a token without the claim: ('none',), ('active',), ('const', v).

        Raises `_ClaimRaises` when reading it raises (`token['tenant_schema']`).
        """
        if isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.Or) and len(expr.values) > 1:
            first = self.missing_value(expr.values[0], test)
            if _truthy(first):
                return first
            fallback = expr.values[1]
            if self.is_active(fallback):
                return ("active",)
            return ("const", fallback.value) if isinstance(fallback, ast.Constant) else ("none",)
        if isinstance(expr, ast.Name) and expr.id in self.claim_names:
            for targets, value, _ in self._assignments:
                if expr.id in targets:
                    try:
                        return self.missing_value(value, test)
                    except _ClaimRaises as raised:
                        # Swallowed while assigning: the check is skipped if it sits in the same `try`,
                        # else it runs on whatever the handler left (None, or an unbound name).
                        if raised.handler is None or self._inside_try_body_of(test, raised.handler):
                            raise
                        return ("none",)
            return ("none",)
        receiver = self.claim_receiver(expr)
        if receiver is not None:
            if isinstance(expr, ast.Subscript) or (isinstance(expr.func, ast.Name) and len(expr.args) < 3):
                raise _ClaimRaises(self._swallowing_handler(expr))
            default = expr.args[-1] if isinstance(expr.func, ast.Name) or len(expr.args) > 1 else next(
                (kw.value for kw in expr.keywords if kw.arg == "default"), None)
            if default is None:
                return ("none",)
            if self.is_active(default):
                return ("active",)
            return ("const", default.value) if isinstance(default, ast.Constant) else ("none",)
        inner = next((n for n in walk(expr) if n is not expr and (
            self.is_claim_read(n) or (isinstance(n, ast.Name) and n.id in self.claim_names))), None)
        return self.missing_value(inner, test) if inner is not None else ("none",)

    def _assigned_value(self, name: str) -> ast.expr | None:
        return next((value for targets, value, _ in self._assignments if name in targets), None)

    def _swallowing_handler(self, node: ast.AST) -> ast.ExceptHandler | None:
        """The `except` around `node` that catches a missing claim and carries on."""
        current = node
        while current in self.parent and current is not self.function:
            holder = self.parent[current]
            if isinstance(holder, ast.Try) and any(s is current for s in holder.body):
                for handler in holder.handlers:
                    if _catches_missing_claim(handler) and not flow.always_exits(handler.body):
                        return handler
            current = holder
        return None

    def _inside_try_body_of(self, node: ast.AST, handler: ast.ExceptHandler) -> bool:
        statement = self.parent.get(handler)
        return isinstance(statement, ast.Try) and any(flow.contains(s, node) for s in statement.body)


_EQUALITY = (ast.Eq, ast.NotEq, ast.Is, ast.IsNot, ast.In, ast.NotIn)
_POSITIVE = (ast.Eq, ast.Is, ast.In)
_CAUGHT_BY_MISSING_CLAIM = frozenset({"KeyError", "LookupError", "AttributeError", "Exception", "BaseException"})
_MAX_UNKNOWN_ATOMS = 6


class _ClaimRaises(Exception):
    """Reading the claim raised because the token lacks it; `handler` is the `except` that swallows it, if any."""

    def __init__(self, handler: ast.ExceptHandler | None):
        super().__init__()
        self.handler = handler


def _returns(statement: ast.stmt) -> bool:
    """Whether the statement may hand a value out of the function (nested functions aside)."""
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)):
            return True
        stack.extend(child for child in child_nodes(node) if not isinstance(child, SCOPES))
    return False


def _truthy(value: tuple) -> bool:
    return value == ("active",) or (value[0] == "const" and bool(value[1]))


def _catches_missing_claim(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(identifier(t) in _CAUGHT_BY_MISSING_CLAIM for t in types)
