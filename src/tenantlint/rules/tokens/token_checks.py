"""What TL501's and TL502's fixes change, decided on the `ast` while checking.

A plan is plain data (positions, the words found there, code to insert) carried
by the finding's fix, so the LibCST side (`_token_fix`, imported only when
fixing) needs neither the project nor the detector: it finds the statements and
expressions again by position and refuses a module whose words there differ.
A finding offers a fix only when a plan is found, so no fix is offered that
cannot be applied.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass

from tenantlint.diagnostics import Fix
from tenantlint.model.flow import always_exits
from tenantlint.model.known import DB_CONNECTION, LOGGER_FACTORIES, TOKEN_REJECTIONS
from tenantlint.rules.edits.statements import (
    Point,
    bindings,
    dominates,
    insertion_point,
    module_names,
    reads,
    span,
    statement_at,
    statement_path,
)
from tenantlint.rules.tokens.token_function import ABSENT, NEUTRAL, PRESENT, TokenFunction
from tenantlint.trees import own_nodes, walk

COMPARISON = "comparison"
MESSAGE = "Token not valid for current tenant"
INVALID_TOKEN = "rest_framework_simplejwt.exceptions.InvalidToken"
AUTHENTICATION_FAILED = "rest_framework.exceptions.AuthenticationFailed"
PERMISSION_DENIED = "django.core.exceptions.PermissionDenied"
# Names for the claim and the active schema, the first one the function does not use.
_CLAIM_NAMES = ("token_tenant_schema", "token_tenant", "claimed_tenant_schema")
_ACTIVE_NAMES = ("current_schema", "active_schema", "request_schema")
# Parameters that hand a function the active tenant's schema (the plan's `tenant_schema: str = None`).
ACTIVE_PARAMETERS = frozenset({"tenant_schema", "schema_name", "current_schema", "active_schema"})


@dataclass(frozen=True)
class Spot:
    """A node by its span (lines from 1, columns in characters) and the words of its text."""

    line: int
    col: int
    end_line: int
    end_col: int
    words: tuple[str, ...]

    @classmethod
    def of(cls, node: ast.AST, lines: list[str], first_line_only: bool = False) -> "Spot":
        line, col, end_line, end_col = span(node, lines)
        if first_line_only:
            text = lines[line - 1][col:]
        elif line == end_line:
            text = lines[line - 1][col:end_col]
        else:
            text = "\n".join([lines[line - 1][col:], *lines[line:end_line - 1], lines[end_line - 1][:end_col]])
        return cls(line, col, end_line, end_col, tuple(text.split()))


@dataclass(frozen=True)
class TenantCheck:
    """TL501: `code` (statements, four-space indents) goes before the statement at `anchor`.

    `separate`: a blank line between the check and the statement, which opened a
    paragraph; `imports`: (module, name) pairs for `from module import name`.
    """

    anchor: Spot
    code: str
    separate: bool
    imports: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FailClosed:
    """TL502: the test at `test` made to treat a token without the claim as a mismatching one.

    Either `parts`, the operands of the test's `and` (`rejects`: true for a
    mismatch) or `or` (true for a match) with their roles, or `default`, a
    `token.get('tenant_schema', <active tenant>)` whose default goes. `returned`:
    the test is a helper's returned predicate, whose value (not only its truth) is used.
    """

    test: Spot
    rejects: bool
    returned: bool = False
    parts: tuple[tuple[Spot, str], ...] = ()
    default: Spot | None = None


@dataclass
class PlannedFix(Fix):
    """A codemod fix carrying its plan from detection to the codemod."""

    plan: TenantCheck | FailClosed | None = None


# -- TL501: a tenant-claim check before the lookup -----------------------------------------

def plan_check(reading: TokenFunction, lookup: ast.Call, lines: list[str], placed: list[tuple[Point, TenantCheck]]
               ) -> tuple[Point, TenantCheck] | None:
    """The check that guards `lookup`: one already `placed` before it in the function, or a new one."""
    function = reading.function
    path = statement_path(function, lookup)
    shared = next(((point, check) for point, check in placed if dominates(point, path)), None)
    if shared is not None:
        return shared
    found = _token(reading, path)
    if found is None:
        return None
    token, at = found
    if insertion_point([path[at]], lines) is None:
        return None  # the statement shares its line, or is an `elif`
    claim_name = _free_name(function, _CLAIM_NAMES)
    active = _active(reading, path, at)
    failure = _failure(reading)
    if claim_name is None or active is None or failure is None:
        return None
    (active_name, active_code, active_imports), (failure_code, failure_imports) = active, failure
    quote = _quote(reading, lines)
    claim = f"{quote}{reading.claim}{quote}" if reading.claim.isidentifier() else repr(reading.claim)
    code = [f"{claim_name} = {token}.get({claim})"]
    if active_code:
        code.append(active_code.format(q=quote))
    code.append(f"if {claim_name} != {active_name}:")
    code += ["    " + line.format(q=quote, claim=claim_name, active=active_name) for line in failure_code]
    anchor = statement_at(path[at])
    check = TenantCheck(Spot.of(anchor, lines, first_line_only=True), "\n".join(code) + "\n",
                        _opens_paragraph(anchor, lines), tuple(dict.fromkeys(active_imports + failure_imports)))
    return path[at], check


def _token(reading: TokenFunction, path: list[Point]) -> tuple[str, int] | None:
    """The name holding the decoded token, and the index in `path` of the statement the check goes before:
    the one holding the lookup in the block where the token is bound (the function's body for a parameter)."""
    function = reading.function
    parameter = reading.token_parameter
    if parameter and parameter in reading.token_names and bindings(function, parameter) == [None]:
        return parameter, 0
    sources = {id(call) for call in reading.source_calls}
    found = None
    for statement in own_nodes(function.body):
        name = _assigned_name(statement)
        if name is None or not _decodes(statement.value, sources) or len(bindings(function, name)) != 1:
            continue
        at = _dominated_at(function, statement, path)
        if at is not None:
            found = name, at  # the decode nearest the lookup
    return found


def _decodes(value: ast.expr, sources: set[int]) -> bool:
    """`AccessToken(raw)`, `jwt.decode(...)`, or `UntypedToken(raw).payload`."""
    if isinstance(value, ast.Attribute) and value.attr == "payload":
        value = value.value
    return id(value) in sources


def _assigned_name(statement: ast.AST) -> str | None:
    if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)):
        return statement.targets[0].id
    return None


def _dominated_at(function, statement: ast.stmt, path: list[Point]) -> int | None:
    """The index in `path` of a statement that runs only after `statement` did: a later one of its block,
    or of the block around a `try` whose handlers all leave (`try: claims = decode(raw) except: return`)."""
    around = statement_path(function, statement)
    for depth in range(len(around) - 1, -1, -1):
        owner, field, index = around[depth]
        found = next((at for at, (o, f, i) in enumerate(path) if o is owner and f == field and i > index), None)
        if found is not None:
            return found
        if not (isinstance(owner, ast.Try) and field == "body" and all(always_exits(h.body) for h in owner.handlers)):
            return None
    return None


def _free_name(function, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if not bindings(function, n) and not reads(function, n)), None)


def _active(reading: TokenFunction, path: list[Point], at: int) -> tuple[str, str | None, tuple] | None:
    """(the name of the active schema, the line binding it if the check must, the imports that line needs).

    What the function already has, when it clearly is the active schema: a
    `tenant_schema` parameter, or a local set from `connection.schema_name`
    before the check; else `getattr(connection, 'schema_name', None)`.
    """
    function = reading.function
    arguments = function.args
    for argument in arguments.posonlyargs + arguments.args + arguments.kwonlyargs:
        if argument.arg in ACTIVE_PARAMETERS and bindings(function, argument.arg) == [None]:
            return argument.arg, None, ()
    for statement in own_nodes(function.body):
        name = _assigned_name(statement)
        if (name and "schema" in name and _reads_schema_name(statement.value) and reading.is_active(statement.value)
                and len(bindings(function, name)) == 1):
            where = _dominated_at(function, statement, path)
            if where is not None and where <= at:
                return name, None, ()
    connection = next((local for local in reading.module.imports.names_for(DB_CONNECTION)
                       if not bindings(function, local)), None)
    needed: tuple = ()
    if connection is None:
        if _taken(reading, "connection"):
            return None
        connection, needed = "connection", (("django.db", "connection"),)
    name = _free_name(function, _ACTIVE_NAMES)
    if name is None:
        return None
    return name, f"{name} = getattr({connection}, {{q}}schema_name{{q}}, None)", needed


def _reads_schema_name(value: ast.expr) -> bool:
    return any((isinstance(n, ast.Attribute) and n.attr == "schema_name")
               or (isinstance(n, ast.Constant) and n.value == "schema_name") for n in walk(value))


def _taken(reading: TokenFunction, name: str) -> bool:
    """The name means something in the module or the function: an import added under it would clash."""
    function = reading.function
    return name in module_names(reading.module.tree) or bool(bindings(function, name)) or reads(function, name)


def _failure(reading: TokenFunction) -> tuple[list[str], tuple] | None:
    """The check's body in the function's own style, and the imports it needs.

    An authenticator raises simplejwt's `InvalidToken` (DRF's `AuthenticationFailed`
    without simplejwt); a function whose failures return None returns None after a
    warning to the module's logger; else the function raises what it already
    raises for bad tokens, or Django's `PermissionDenied`.
    """
    function = reading.function
    if reading.owner_is_authenticator:
        info = reading.ctx.project.class_in_module(reading.module, reading.owner)
        ancestors = reading.ctx.project.class_ancestors(info)
        simplejwt = any(a.startswith("rest_framework_simplejwt.") for a in ancestors)
        return _raise(reading, INVALID_TOKEN if simplejwt else AUTHENTICATION_FAILED)
    if any(isinstance(n, ast.Return) and (n.value is None or _is_none(n.value)) for n in own_nodes(function.body)):
        logger = _module_logger(reading)
        warning = [f"{logger}.warning({{q}}Token tenant %s does not match the current tenant %s{{q}}, "
                   "{claim}, {active})"] if logger else []
        return [*warning, "return None"], ()
    for node in own_nodes(function.body):
        if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                and reading.qualify(node.exc.func) in TOKEN_REJECTIONS):
            return [f"raise {ast.unparse(node.exc.func)}({{q}}{MESSAGE}{{q}})"], ()
    return _raise(reading, PERMISSION_DENIED)


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _raise(reading: TokenFunction, dotted: str) -> tuple[list[str], tuple] | None:
    spelling = _spelling(reading, dotted)
    if spelling is None:
        return None
    name, imports = spelling
    return [f"raise {name}({{q}}{MESSAGE}{{q}})"], imports


def _spelling(reading: TokenFunction, dotted: str) -> tuple[str, tuple] | None:
    """How the module names `dotted` (`InvalidToken`, `exceptions.AuthenticationFailed`), or the import to add."""
    function = reading.function
    module, _, name = dotted.rpartition(".")
    imports = reading.module.imports
    for local in imports.names_for(dotted):
        if not bindings(function, local):
            return local, ()
    for local in imports.names_for(module):
        if not bindings(function, local):
            return f"{local}.{name}", ()
    if _taken(reading, name):
        return None
    return name, ((module, name),)


def _module_logger(reading: TokenFunction) -> str | None:
    for statement in reading.module.tree.body:
        name = _assigned_name(statement)
        if (name and isinstance(statement.value, ast.Call)
                and reading.module.imports.qualify(statement.value.func) in LOGGER_FACTORIES
                and not bindings(reading.function, name)):
            return name
    return None


_STRING_STARTS = {tokenize.STRING, getattr(tokenize, "FSTRING_START", tokenize.STRING)}  # f-strings are split on 3.12+


def _quote(reading: TokenFunction, lines: list[str]) -> str:
    """The quote most of the function's one-line strings use (double on a tie)."""
    function = reading.function
    text = "\n".join(lines[function.lineno - 1:function.end_lineno])
    counts = {"'": 0, '"': 0}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in _STRING_STARTS:
                quote = token.string.lstrip("rRbBuUfF")[:3]
                if quote[0] in counts and quote != quote[0] * 3:
                    counts[quote[0]] += 1
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # a method's text is indented: tokenize may stop early, the counts so far still tell
    return "'" if counts["'"] > counts['"'] else '"'


def _opens_paragraph(statement: ast.stmt, lines: list[str]) -> bool:
    """A blank line comes before the statement (and the comments right above it)."""
    index = statement.lineno - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        index -= 1
    return index >= 0 and not lines[index].strip()


# -- TL502: the check made to fail closed ---------------------------------------------------

def plan_fail_closed(reading: TokenFunction, check: ast.stmt, test: ast.expr, lines: list[str]) -> FailClosed | None:
    """`a and claim and claim != schema` becomes `a and (not claim or claim != schema)`; the `or` form of
    an accepting test likewise; `token.get('tenant_schema', schema) != schema` loses its default."""
    parts = test.values if isinstance(test, ast.BoolOp) else [test]
    comparisons = [p for p in parts if isinstance(p, ast.Compare) and len(p.ops) == 1
                   and isinstance(p.ops[0], (ast.Eq, ast.NotEq)) and reading.is_tenant_comparison(p)]
    if len(comparisons) != 1:
        return None
    comparison = comparisons[0]
    rejects = isinstance(comparison.ops[0], ast.NotEq)
    if not isinstance(test, ast.BoolOp):
        default = _active_default(reading, comparison)
        return FailClosed(Spot.of(test, lines), rejects, default=Spot.of(default, lines)) if default else None
    if not isinstance(test.op, ast.And if rejects else ast.Or):
        return None
    skipping = PRESENT if rejects else ABSENT  # the operands that let a token without the claim by
    roles = [COMPARISON if part is comparison else reading.claim_role(part) for part in parts]
    if skipping not in roles or any(role not in (skipping, NEUTRAL, COMPARISON) for role in roles):
        return None
    return FailClosed(Spot.of(test, lines), rejects, isinstance(check, ast.Return),
                      tuple((Spot.of(p, lines), r) for p, r in zip(parts, roles)))


def _active_default(reading: TokenFunction, comparison: ast.Compare) -> ast.Call | None:
    """`token.get('tenant_schema', connection.schema_name)` among the comparison's operands."""
    for operand in (comparison.left, *comparison.comparators):
        if (isinstance(operand, ast.Call) and isinstance(operand.func, ast.Attribute) and operand.func.attr == "get"
                and len(operand.args) == 2 and not operand.keywords and reading.claim_receiver(operand) is not None
                and reading.is_active(operand.args[1])):
            return operand
    return None
