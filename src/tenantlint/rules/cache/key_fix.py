"""TL201's codemod: add the schema name to each cache key where it is built.

Imported only when fixing, so a plain check never loads libcst. Detection has
already chosen the expressions (`FixTarget`): `insert` puts the schema in front
of the expression that builds the key, in whatever spelling builds it
(`f"{schema}:user:{id}"`, `"%s:user:%s" % (schema, id)`); `wrap` turns a key
into `f"{schema}:{key}"`. The schema always leads, as django-tenants' own
`make_key` puts it: however two places spell the same key (`f"{prefix}:{id}"`
and `f"doc:{doc}:{id}"`), both fixed keys still meet.
"""

from __future__ import annotations

import ast
import string

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider

from tenantlint.rules.cache.key_shapes import INSERT, PERCENT_FIELD, FixTarget
from tenantlint.trees import walk

CONNECTION_MODULE, CONNECTION = "django.db", "connection"
# the first of these names that nothing else in the module uses
_CONNECTION_NAMES = ("connection", "db_connection", "django_db_connection")
_SEPARATOR = ":"
# kinds of expression that read the same inside an f-string's braces
_PLAIN_EXPRESSIONS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.BinaryOperation, cst.Integer)


class FixNotApplicable(Exception):
    """The module no longer holds the expressions detection saw; the fix engine tries again later."""


def add_schema(module: cst.Module, targets: list[FixTarget]) -> cst.Module:
    if not targets:
        return module
    name, needs_import = _connection_name(ast.parse(module.code))
    wrapper = MetadataWrapper(module)
    found = _locate(wrapper, targets)
    rewritten = wrapper.module.visit(_Rewriter(found, name))
    if not needs_import:
        return rewritten
    return _add_import(rewritten, name)


def _locate(wrapper: MetadataWrapper, targets: list[FixTarget]) -> dict[cst.CSTNode, str]:
    """The node of each target (parentheses excluded, as `ast` excludes them) whose text still matches."""
    wanted: dict[tuple, FixTarget] = {}
    for target in sorted(targets, key=lambda t: t.mode != INSERT):  # inserting beats wrapping the same key
        wanted.setdefault((target.line, target.col, target.end_line, target.end_col), target)
    found: dict[cst.CSTNode, str] = {}
    for node, where in wrapper.resolve(PositionProvider).items():
        if not isinstance(node, cst.BaseExpression):
            continue
        span = (where.start.line, where.start.column, where.end.line, where.end.column)
        target = wanted.get(span)
        # rendered out of its block, a multi-line node loses its indentation: compare words only
        if target is not None and _code(node.with_changes(lpar=(), rpar=())).split() == target.text.split():
            found[node] = target.mode
            del wanted[span]
    if wanted:
        raise FixNotApplicable("the cache key is no longer where it was found")
    return found


class _Rewriter(cst.CSTTransformer):
    def __init__(self, found: dict[cst.CSTNode, str], connection: str):
        super().__init__()
        self.found = found
        self.connection = connection

    def on_leave(self, original_node, updated_node):
        mode = self.found.get(original_node)
        if mode is None:
            return updated_node
        schema = _Schema(self.connection)
        if mode == INSERT:
            return _insert(updated_node, schema) or _wrap(updated_node, schema)
        return _wrap(updated_node, schema)


class _Schema:
    """`getattr(connection, "schema_name", "public")`, quoted as the place it goes needs."""

    def __init__(self, connection: str):
        self.connection = connection

    def expression(self, quote: str = '"') -> cst.BaseExpression:
        return cst.parse_expression(f"getattr({self.connection}, {quote}schema_name{quote}, {quote}public{quote})")

    def field(self, f_string_quote: str) -> cst.FormattedStringExpression:
        return cst.FormattedStringExpression(self.expression(_other(f_string_quote)))


# -- insert: the schema goes into the expression that builds the key ----------
def _insert(node: cst.BaseExpression, schema: _Schema) -> cst.BaseExpression | None:
    """The key expression with the schema segment, or None when its shape does not allow it."""
    if isinstance(node, (cst.SimpleString, cst.Integer, cst.Float)) and not _is_bytes(node):
        if isinstance(node, cst.SimpleString) and "\\N{" in node.value and "r" not in node.prefix.lower():
            return None  # doubling the braces of a \N{NAME} escape would break it
        return _literal_as_f_string(node, schema)
    if isinstance(node, cst.FormattedString):
        return _insert_into_f_string(node, schema)
    if isinstance(node, cst.ConcatenatedString):
        left = _insert(node.left, schema)
        return node.with_changes(left=left) if left is not None else None
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
        return _insert_into_percent(node, schema)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return _insert_into_concatenation(node, schema)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.SimpleString):
        if node.func.attr.value == "format":
            return _insert_into_format(node, schema)
        if node.func.attr.value == "join":
            return _insert_into_join(node, schema)
    return None


def _literal_as_f_string(node: cst.BaseExpression, schema: _Schema) -> cst.FormattedString:
    """`"user:"` → `f"{schema}:user:"`; `"feature_flags"` → `f"{schema}:feature_flags"`."""
    if isinstance(node, cst.SimpleString):
        prefix = node.prefix.replace("u", "").replace("U", "")
        quote = node.quote
        body = node.value[len(node.prefix) + len(quote):-len(quote)]
    else:
        prefix, quote, body = "", '"', node.value
    body = body.replace("{", "{{").replace("}", "}}")
    parts = [schema.field(quote), cst.FormattedStringText(_SEPARATOR + body)]
    return cst.FormattedString(parts, start=f"{prefix}f{quote}", end=quote, lpar=node.lpar, rpar=node.rpar)


def _insert_into_f_string(node: cst.FormattedString, schema: _Schema) -> cst.FormattedString:
    parts = list(node.parts)
    field = schema.field(node.end)
    first = parts[0] if parts else None
    if isinstance(first, cst.FormattedStringText):
        parts[0:1] = [field, first.with_changes(value=_SEPARATOR + first.value)]
    else:
        parts[0:0] = [field, cst.FormattedStringText(_SEPARATOR)]
    return node.with_changes(parts=parts)


def _insert_into_percent(node: cst.BinaryOperation, schema: _Schema) -> cst.BaseExpression | None:
    """`"user:%s" % uid` → `"%s:user:%s" % (schema, uid)`; `%(name)s` templates get a `%(schema)s` entry."""
    template = node.left
    if not isinstance(template, cst.SimpleString) or _is_bytes(template):
        return None
    body = _body(template)
    fields = [match for match in PERCENT_FIELD.finditer(body) if match.group("kind") != "%"]
    names = {match.group("name") for match in fields if match.group("name") is not None}
    values = node.right
    quote = template.quote[0]
    if names:
        # a mapping: only a dict display can take one more entry without changing what else it holds
        if not isinstance(values, cst.Dict) or any(isinstance(e, cst.StarredDictElement) for e in values.elements):
            return None
        key = _unused_name(names | _dict_keys(values))
        entry = cst.DictElement(cst.SimpleString(f"{quote}{key}{quote}"), schema.expression(quote))
        right = values.with_changes(elements=_inserted(values.elements, 0, entry))
        field = f"%({key})s"
    else:
        # the new field comes first, so the schema is the first value
        if isinstance(values, cst.Tuple) and values.lpar:
            right = values.with_changes(elements=_inserted(values.elements, 0, cst.Element(schema.expression(quote))))
        else:
            right = cst.Tuple([cst.Element(schema.expression(quote), comma=_comma()), cst.Element(values)])
        field = "%s"
    return node.with_changes(left=_with_body(template, _prefixed(body, field)), right=right)


def _insert_into_format(node: cst.Call, schema: _Schema) -> cst.BaseExpression | None:
    """`"user:{}".format(uid)` → `"{}:user:{}".format(schema, uid)`, keeping numbered or named fields."""
    template = node.func.value
    if _is_bytes(template):
        return None
    body = _body(template)
    try:
        fields = _format_fields(template.evaluated_value)
    except ValueError:
        return None
    args = list(node.args)
    if any(arg.star for arg in args) and any(name.isdigit() for name in fields):
        return None
    quote = template.quote[0]
    if any(name.isdigit() for name in fields):
        index = sum(1 for arg in args if arg.keyword is None and not arg.star)
        field, arg, at = "{%d}" % index, cst.Arg(schema.expression(quote)), index
    elif "" in fields or not fields:
        field, arg, at = "{}", cst.Arg(schema.expression(quote)), 0
    else:
        if any(arg.star == "**" for arg in args):
            return None  # the mapping might hold the name we would add
        name = _unused_name(set(fields) | {arg.keyword.value for arg in args if arg.keyword})
        field = "{%s}" % name
        arg = cst.Arg(schema.expression(quote), keyword=cst.Name(name), equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))
        at = len(args)
    func = node.func.with_changes(value=_with_body(template, _prefixed(body, field)))
    return node.with_changes(func=func, args=_inserted(args, at, arg))


def _insert_into_concatenation(node: cst.BinaryOperation, schema: _Schema) -> cst.BaseExpression | None:
    """`"user:" + str(uid)` → `schema + ":" + "user:" + str(uid)`."""
    operands = _added(node)
    literals = [operand for operand in operands if _is_text_literal(operand)]
    if not literals:
        return None  # perhaps numbers: only an f-string around it keeps its meaning
    quote = _quote_of(literals[0])
    separator = cst.SimpleString(f"{quote}{_SEPARATOR}{quote}")

    def scoped(first: cst.BaseExpression) -> cst.BaseExpression:
        if isinstance(first, (cst.FormattedString, cst.ConcatenatedString)):
            return _insert(first, schema)
        return _plus(_plus(schema.expression(quote), separator), first)

    return _with_first_operand(node, scoped)


def _insert_into_join(node: cst.Call, schema: _Schema) -> cst.BaseExpression | None:
    """`":".join([kind, uid])` → `":".join([schema, kind, uid])`."""
    if node.func.value.evaluated_value != _SEPARATOR or len(node.args) != 1 or node.args[0].keyword or node.args[0].star:
        return None
    sequence = node.args[0].value
    if not isinstance(sequence, (cst.List, cst.Tuple)) or not sequence.elements:
        return None
    first = sequence.elements[0]
    quote = _quote_of(first.value) if isinstance(first, cst.Element) and _is_text_literal(first.value) else '"'
    elements = _inserted(sequence.elements, 0, cst.Element(schema.expression(quote)))
    return node.with_changes(args=[node.args[0].with_changes(value=sequence.with_changes(elements=elements))])


# -- wrap: the key becomes f"{schema}:{key}" ---------------------------------
def _wrap(node: cst.BaseExpression, schema: _Schema) -> cst.BaseExpression:
    code = _code(node)
    quote = next((q for q in '"\'' if q not in code), None)
    if isinstance(node, _PLAIN_EXPRESSIONS) and quote and not code.startswith("{") and not any(c in code for c in "\n\\#"):
        return cst.FormattedString(
            [schema.field(quote), cst.FormattedStringText(_SEPARATOR), cst.FormattedStringExpression(node)],
            start=f"f{quote}", end=quote)
    # anything else goes in as an argument, where no quoting rule can bite
    template = cst.SimpleString('"{}' + _SEPARATOR + '{}"')
    return cst.Call(cst.Attribute(template, cst.Name("format")),
                    [cst.Arg(schema.expression(), comma=_comma()), cst.Arg(node)])


# -- the connection's name and its import --------------------------------------
def _connection_name(tree: ast.Module) -> tuple[str, bool]:
    """The name to read django.db.connection by, and whether a module-level import must be added.

    A name is usable when every binding of it in the module imports django.db.connection,
    or when the module neither binds nor reads it.
    """
    bound: dict[str, list[bool]] = {}
    read: set[str] = set()
    imported_at_top: set[str] = set()
    for node in walk(tree):
        for name, is_connection in _bindings(node):
            bound.setdefault(name, []).append(is_connection)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            read.add(node.id)
    for statement in tree.body:
        imported_at_top.update(name for name, is_connection in _bindings(statement) if is_connection)
    for name in sorted(imported_at_top):  # `from django.db import connection as db` already there
        if all(bound[name]):
            return name, False
    for name in _CONNECTION_NAMES:
        if name in bound and all(bound[name]):
            return name, name not in imported_at_top
        if name not in bound and name not in read:
            return name, True
    raise FixNotApplicable("no free name for django.db.connection")


def _bindings(node: ast.AST):
    """(name, whether it is bound to django.db.connection) for each name `node` binds."""
    if isinstance(node, ast.ImportFrom):
        for alias in node.names:
            is_connection = node.module == CONNECTION_MODULE and node.level == 0 and alias.name == CONNECTION
            yield alias.asname or alias.name, is_connection
    elif isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.asname or alias.name.split(".")[0], False
    elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        yield node.id, False
    elif isinstance(node, ast.arg):
        yield node.arg, False
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield node.name, False
    elif isinstance(node, (ast.Global, ast.Nonlocal)):
        yield from ((name, False) for name in node.names)
    elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
        yield node.name, False
    elif isinstance(node, ast.MatchMapping) and node.rest:
        yield node.rest, False


def _add_import(module: cst.Module, name: str) -> cst.Module:
    """`from django.db import connection` (`as name`), joined to a module-level django.db import if any."""
    alias = cst.ImportAlias(cst.Name(CONNECTION), asname=None if name == CONNECTION else cst.AsName(cst.Name(name)))
    for index, statement in enumerate(module.body):
        found = _django_db_import(statement)
        if found is not None:
            names = list(found.names)
            at = next((i for i, existing in enumerate(names) if _alias_key(existing) > _alias_key(alias)), len(names))
            body = list(module.body)
            small = statement.with_changes(body=[found.with_changes(names=_inserted(names, at, alias))])
            body[index] = small
            return module.with_changes(body=body)
    django = [(index, module_name) for index, statement in enumerate(module.body)
              if (module_name := _imported_module(statement)) and module_name.split(".")[0] == "django"]
    if not django:
        context = CodemodContext()
        AddImportsVisitor.add_needed_import(context, CONNECTION_MODULE, CONNECTION, None if name == CONNECTION else name)
        return AddImportsVisitor(context).transform_module(module)
    # among the module's own django imports, in the order isort keeps them
    before = [index for index, module_name in django if module_name < CONNECTION_MODULE]
    statement = cst.SimpleStatementLine([cst.ImportFrom(cst.parse_expression(CONNECTION_MODULE), names=[alias])])
    body = list(module.body)
    if before:
        body.insert(before[-1] + 1, statement)
    else:
        first = django[0][0]
        body[first:first + 1] = [statement.with_changes(leading_lines=body[first].leading_lines),
                                 body[first].with_changes(leading_lines=())]
    return module.with_changes(body=body)


def _imported_module(statement: cst.CSTNode) -> str | None:
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    found = statement.body[0]
    if isinstance(found, cst.ImportFrom) and not found.relative and found.module is not None:
        return _code(found.module)
    if isinstance(found, cst.Import):
        return _code(found.names[0].name)
    return None


def _django_db_import(statement: cst.CSTNode) -> cst.ImportFrom | None:
    if _imported_module(statement) != CONNECTION_MODULE:
        return None
    found = statement.body[0]
    return found if isinstance(found, cst.ImportFrom) and not isinstance(found.names, cst.ImportStar) else None


def _alias_key(alias: cst.ImportAlias) -> str:
    return _code(alias.name).lower()


# -- small helpers ------------------------------------------------------------
def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _other(quote: str) -> str:
    return "'" if quote[0] == '"' else '"'


def _is_bytes(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.SimpleString) and "b" in node.prefix.lower()


def _is_text_literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.SimpleString):
        return not _is_bytes(node)
    if isinstance(node, cst.ConcatenatedString):
        return _is_text_literal(node.left)
    return isinstance(node, cst.FormattedString)


def _quote_of(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.SimpleString):
        return node.quote[0]
    if isinstance(node, cst.FormattedString):
        return node.end[0]
    if isinstance(node, cst.ConcatenatedString):
        return _quote_of(node.left)
    return '"'


def _body(node: cst.SimpleString) -> str:
    return node.value[len(node.prefix) + len(node.quote):-len(node.quote)]


def _with_body(node: cst.SimpleString, body: str) -> cst.SimpleString:
    return node.with_changes(value=f"{node.prefix}{node.quote}{body}{node.quote}")


def _prefixed(body: str, field: str) -> str:
    """The template with `field:` in front."""
    return field + _SEPARATOR + body


def _format_fields(template: str) -> list[str]:
    """The head of every replacement field, nested ones in format specs included ("" when automatic)."""
    found = []
    for _, field, spec, _ in string.Formatter().parse(template):
        if field is None:
            continue
        found.append(field.split(".")[0].split("[")[0])
        if spec and "{" in spec:
            found += _format_fields(spec)
    return found


def _unused_name(taken: set[str]) -> str:
    return next(name for name in ("schema", "tenant_schema", "schema_name", "tenant_schema_name") if name not in taken)


def _dict_keys(node: cst.Dict) -> set[str]:
    return {e.key.evaluated_value for e in node.elements
            if isinstance(e, cst.DictElement) and isinstance(e.key, cst.SimpleString)}


def _comma() -> cst.Comma:
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _inserted(items, at: int, item):
    """`items` with `item` at index `at`, commas arranged as the neighbours have them."""
    items = list(items)
    if not items:
        return [item]
    if at < len(items):
        # copy the separator of an element that is followed by another (not a trailing comma before `)`)
        model = next((i.comma for i in items[:-1] if isinstance(i.comma, cst.Comma)), _comma())
        return [*items[:at], item.with_changes(comma=model), *items[at:]]
    last = items[-1]
    if isinstance(last.comma, cst.Comma):
        model = next((i.comma for i in items[:-1] if isinstance(i.comma, cst.Comma)), _comma())
        return [*items[:-1], last.with_changes(comma=model), item.with_changes(comma=last.comma)]
    return [*items[:-1], last.with_changes(comma=_comma()), item]


def _added(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The operands of an unparenthesised `a + b + c` chain."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        left = node.left
        if isinstance(left, cst.BinaryOperation) and isinstance(left.operator, cst.Add) and not left.lpar:
            return [*_added(left), node.right]
        return [left, node.right]
    return [node]


def _with_first_operand(node: cst.BinaryOperation, change) -> cst.BinaryOperation:
    left = node.left
    if isinstance(left, cst.BinaryOperation) and isinstance(left.operator, cst.Add) and not left.lpar:
        return node.with_changes(left=_with_first_operand(left, change))
    return node.with_changes(left=change(left))


def _plus(left: cst.BaseExpression, right: cst.BaseExpression) -> cst.BinaryOperation:
    return cst.BinaryOperation(left, cst.Add(), right)
