"""TL603 group-name-without-tenant: a channel-layer group named by an id that every tenant has."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Iterator

from tenantlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Related, Severity
from tenantlint.model.known import TENANT_GUARDS
from tenantlint.model.project import real
from tenantlint.rules.base import Rule, register
from tenantlint.trees import walk

Function = ast.FunctionDef | ast.AsyncFunctionDef
_ASYNC_TO_SYNC = "asgiref.sync.async_to_sync"
_GET_CHANNEL_LAYER = "channels.layers.get_channel_layer"
_GROUP_METHODS = frozenset({"group_add", "group_send", "group_discard"})
_DELIVERING = frozenset({"group_add", "group_send"})  # a discard alone puts no socket in a group
_SCHEMA_CONTEXT, _TENANT_CONTEXT = TENANT_GUARDS["set_schema"], TENANT_GUARDS["set_tenant"]
# words that make a part of a name the tenant, or something unique in the whole deployment
_TENANT_WORDS = ("tenant", "schema")
_UNIQUE_WORDS = ("channel_name", "uuid", "guid", "session_key")
_MIN_PREFIX = 3  # a literal start shorter than this cannot be searched for in the rest of the project
_DEPTH = 3


@dataclass
class _Name:
    """A group name built from literal text and interpolated parts, where it is built."""

    node: ast.expr
    parts: list[ast.expr]
    text: str  # its literal text
    attribute: str | None = None  # built as `self.<attribute> = ...` in a method
    owner: ast.ClassDef | None = None
    uses: list[tuple[ast.Call, str]] = field(default_factory=list)  # the group calls, with their method


@register
class GroupNameWithoutTenant(Rule):
    code = "TL603"
    name = "group-name-without-tenant"
    summary = "a channel-layer group is named by an id that repeats in every tenant, with no tenant in the name"
    what = (
        "A Channels group name passed to `group_add` or `group_send` (on `self.channel_layer` or "
        "`get_channel_layer()`, directly or through `async_to_sync`), or listed in a consumer's `groups`, that "
        "interpolates an id or a name from the request, the URL or an object (`f\"chat_{room_id}\"`, "
        "`\"user_%s\" % user.id`, `\"room_\" + str(pk)`) and nothing that names the tenant, in a project with one "
        "schema per tenant. The name is followed to where it is built: a local variable assigned once, or an "
        "attribute of `self` assigned once in the class."
    )
    why = (
        "The channel layer (Redis, or memory) is one for the whole deployment, and a group is a name in it. With a "
        "schema per tenant, ids repeat in every schema: tenant A's room 3 and tenant B's room 3 are different "
        "rooms with one group, `chat_3`. A message sent to tenant B's room reaches the sockets of everyone in "
        "tenant A's room of the same id, with no error anywhere. User ids repeat the same way unless the user "
        "table lives in the public schema alone."
    )
    avoids = (
        "Silent with row-level tenancy, a tenant taken from the user, or no tenancy (ids are unique across "
        "tenants there); for user ids when the user model's app is in SHARED_APPS and not in TENANT_APPS (one user "
        "table); for names with a part that names the tenant or its schema (`f\"{tenant.schema_name}.chat_{id}\"`), "
        "and parts unique in the deployment (`self.channel_name`, a UUID, a session key); for constant names (a "
        "broadcast to every tenant, on purpose or not, is not this rule's); for names built by a helper "
        "(`group_for(room)` may add the tenant) or handed in as a parameter; for `group_discard` alone; in test "
        "code."
    )
    fix_description = (
        "When the name is built once as `self.<attribute> = f\"...\"` in a consumer, every `group_add`, "
        "`group_send` and `group_discard` of it uses that attribute in the same class, the consumer already reads "
        "its tenant from the connection's scope in a `schema_context(...)` or `tenant_context(...)` (put there by "
        "the project's websocket middleware), and the name's literal start appears nowhere else in the project "
        "(no other code sends to it by another spelling), the schema name goes at the start of the f-string: "
        "`f\"{self.scope['tenant'].schema_name}.chat_{self.room_id}\"`. Safe: every use of the name changes the "
        "same way, so the sockets of one tenant still meet in their group and no longer meet another tenant's "
        "(schema names are letters, digits and underscores, and a group name may hold them and the dot; the "
        "name must stay under Channels' 100 characters). No fix elsewhere: the message says what is missing."
    )
    fix_safety = "safe"
    severity = Severity.WARNING
    node_types = (ast.Call, ast.ClassDef)
    triggers = ("group_add", "group_send", "Consumer")  # `groups = [...]` is a consumer's attribute
    example_filename = "consumers.py"
    invalid = (
        """\
from channels.generic.websocket import AsyncJsonWebsocketConsumer


class RoomConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.room_id = self.scope["url_route"]["kwargs"]["room_id"]
        self.group_name = f"room_{self.room_id}"  # TL603
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def receive_json(self, content):
        await self.channel_layer.group_send(self.group_name, {"type": "room.message", "text": content["text"]})
""",
    )
    valid = (
        """\
from channels.generic.websocket import AsyncJsonWebsocketConsumer


class RoomConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.room_id = self.scope["url_route"]["kwargs"]["room_id"]
        self.group_name = f"{self.scope['tenant'].schema_name}.room_{self.room_id}"
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
""",
    )

    def __init__(self, options):
        super().__init__(options)
        self._names: tuple[object, dict[tuple[int, int], _Name]] = (None, {})

    def visit(self, node: ast.AST, ctx) -> tuple[()]:
        """Each group name is kept where it is built, with its calls; `finish` reports each name once."""
        if not ctx.tenancy.ids_repeat_across_tenants:
            return ()
        names = self._file_names(ctx)
        if isinstance(node, ast.ClassDef):
            for element in _listed_groups(node):
                built = _built(element, [], ctx, 0)
                if built is not None:
                    names.setdefault(_start(built.node), built).uses.append((element, "groups"))
            return ()
        method, argument = _group_call(node, ctx)
        if argument is None:
            return ()
        function, owner = _enclosing(ctx.parents)
        built = _built(argument, [function, owner], ctx, 0)
        if built is not None:
            names.setdefault(_start(built.node), built).uses.append((node, method))
        return ()

    def finish(self, ctx) -> Iterator[Diagnostic]:
        names = self._file_names(ctx)
        for built in sorted(names.values(), key=lambda b: _start(b.node)):
            if not any(method in _DELIVERING or method == "groups" for _, method in built.uses):
                continue
            parts = _per_tenant_parts(built, ctx)
            if not parts:
                continue
            fix, reason = self._tenant_fix(built, ctx)
            said = ctx.segment(built.node) or ast.unparse(built.node)
            named = ", ".join(dict.fromkeys(ctx.segment(p) or ast.unparse(p) for p in parts))
            calls = sorted({method for _, method in built.uses if method in _DELIVERING})
            verb = "repeats" if len(parts) == 1 else "repeat"
            message = (f"channel-layer group {_short(said)} has no tenant component: {named} {verb} in every "
                       f"tenant's schema, so the sockets of two tenants with the same {named} join one group and "
                       f"{' and '.join(calls) or 'its messages'} reach both; put the tenant's schema name in the "
                       "group name" + reason)
            related = tuple(Related(ctx.location(call), f"{method} of this group") for call, method in built.uses
                            if _start(call) != _start(built.node))
            yield Diagnostic(self.code, message, ctx.location(built.node), self.severity, fix, related)
        names.clear()

    def _file_names(self, ctx) -> dict[tuple[int, int], _Name]:
        if self._names[0] is not ctx:
            self._names = (ctx, {})
        return self._names[1]

    def _tenant_fix(self, built: _Name, ctx) -> tuple[Fix | None, str]:
        """The schema name put at the start of the f-string, when every use of the name is in view."""
        if not isinstance(built.node, ast.JoinedStr) or built.attribute is None or built.owner is None:
            return None, "; no fix offered: the name is not kept on the consumer (`self.<name> = f\"...\"`)"
        tenant = _scope_tenant(built.owner, ctx)
        if tenant is None:
            return None, ("; no fix offered: the consumer reads no tenant from its scope (no `schema_context` or "
                          "`tenant_context` on `self.scope[...]`) that the name could use")
        uses = _attribute_uses(built.owner, built.attribute)
        if any(_start(call) not in {_start(c) for c, _ in built.uses} for call in uses):
            return None, "; no fix offered: the class reaches the group through calls not all of which are in view"
        prefix = built.text.split("\0")[0]
        if len(prefix) < _MIN_PREFIX or _named_elsewhere(prefix, built, ctx):
            return None, (f"; no fix offered: other code may use the group by another spelling (its start "
                          f"{prefix!r} is too short to look for, or starts a name built elsewhere in the project)")
        source = ctx.segment(built.node) or ""
        quote_at = next((i for i, c in enumerate(source) if c in "'\""), None)
        if quote_at is None or "f" not in source[:quote_at].lower():
            return None, "; no fix offered: the name is not a single f-string"
        quote = source[quote_at]
        width = 3 if source[quote_at:quote_at + 3] == quote * 3 else 1
        inner = tenant if width == 3 else _requoted(tenant, quote)
        if inner is None:
            return None, "; no fix offered: the tenant's expression cannot be written inside this f-string"
        line, col, _, _ = ctx.char_span(built.node)
        at = col + quote_at + width  # on the f-string's first line: the prefix and quotes never span lines
        edit = Edit(line, at, line, at, "{" + inner + "}.")
        return Fix(Applicability.SAFE, "Put the tenant's schema name at the start of the group name", (edit,)), ""


def _start(node: ast.AST) -> tuple[int, int]:
    return node.lineno, node.col_offset


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _group_call(node: ast.Call, ctx) -> tuple[str | None, ast.expr | None]:
    """The method and the group-name argument of a channel-layer group call, else (None, None)."""
    func = node.func
    if isinstance(func, ast.Call) and len(func.args) == 1 and ctx.imports.qualify(func.func) == _ASYNC_TO_SYNC:
        func = func.args[0]  # `async_to_sync(layer.group_send)(name, message)`
    if not (isinstance(func, ast.Attribute) and func.attr in _GROUP_METHODS and _is_channel_layer(func.value, ctx)):
        return None, None
    if node.args and not isinstance(node.args[0], ast.Starred):
        return func.attr, node.args[0]
    return func.attr, next((k.value for k in node.keywords if k.arg == "group"), None)


def _is_channel_layer(node: ast.expr, ctx) -> bool:
    """`self.channel_layer`, `get_channel_layer()`, or a name that says it holds a layer."""
    if isinstance(node, ast.Attribute):
        return node.attr.endswith("layer")
    if isinstance(node, ast.Name):
        return node.id.endswith("layer")
    return isinstance(node, ast.Call) and ctx.imports.qualify(node.func) == _GET_CHANNEL_LAYER


def _enclosing(parents: list[ast.AST]) -> tuple[Function | None, ast.ClassDef | None]:
    function = next((p for p in reversed(parents) if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    owner = None
    if function is not None:
        at = parents.index(function)
        owner = parents[at - 1] if at and isinstance(parents[at - 1], ast.ClassDef) else None
    return function, owner


def _listed_groups(node: ast.ClassDef) -> list[ast.expr]:
    """The elements of a consumer's class attribute `groups = [...]`."""
    if not any("Consumer" in ast.unparse(base) for base in node.bases):
        return []
    for statement in node.body:
        if isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "groups"
                                                     for t in statement.targets):
            if isinstance(statement.value, (ast.List, ast.Tuple)):
                return list(statement.value.elts)
    return []


def _built(node: ast.expr, scope: list, ctx, depth: int) -> _Name | None:
    """Where the name is built from literal text and parts: here, or at the one assignment of the local
    variable or the attribute of `self` it is read from."""
    shape = _shape(node)
    if shape is not None:
        return _Name(node, *shape)
    if depth >= _DEPTH or not scope:
        return None
    function, owner = (scope + [None, None])[:2]
    if isinstance(node, ast.Name) and function is not None:
        values = _assigned(function, lambda target: isinstance(target, ast.Name) and target.id == node.id)
        if len(values) == 1:
            return _built(values[0], scope, ctx, depth + 1)
        return None
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and owner is not None
            and function is not None and _self_name(function) == node.value.id):
        found = []
        for method in owner.body:
            if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and _self_name(method):
                name = _self_name(method)
                found += [(value, method) for value in _assigned(method, lambda t: isinstance(t, ast.Attribute)
                          and t.attr == node.attr and isinstance(t.value, ast.Name) and t.value.id == name)]
        if len(found) != 1:
            return None
        value, method = found[0]
        built = _built(value, [method, owner], ctx, depth + 1)
        if built is not None and built.node is value:
            built.attribute, built.owner = node.attr, owner
        return built
    return None


def _shape(node: ast.expr) -> tuple[list[ast.expr], str] | None:
    """The interpolated parts and literal text (parts marked by NUL) of an f-string, a `%` or `.format` on a
    literal, or a `+` chain holding one."""
    if isinstance(node, ast.JoinedStr):
        parts, text = [], ""
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                parts.append(value.value)
                text += "\0"
            elif isinstance(value, ast.Constant) and isinstance(value.value, str):
                text += value.value
        return (parts, text) if parts and text.strip("\0") else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_text(node.left):
        parts = list(node.right.elts) if isinstance(node.right, ast.Tuple) else [node.right]
        return parts, node.left.value.replace("%s", "\0").replace("%d", "\0")
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
            and _is_text(node.func.value)):
        return [*node.args, *(k.value for k in node.keywords)], node.func.value.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        pieces = _added(node)
        texts = [p.value for p in pieces if _is_text(p)]
        parts = [_unwrapped(p) for p in pieces if not _is_text(p)]
        return (parts, "\0".join(texts)) if texts and parts else None
    return None


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _added(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [*_added(node.left), *_added(node.right)]
    return [node]


def _unwrapped(node: ast.expr) -> ast.expr:
    """`str(room.id)` is `room.id`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str" and len(node.args) == 1:
        return node.args[0]
    return node


def _assigned(function: Function, is_target) -> list[ast.expr]:
    """The values assigned to a target in the function (its own body, nested functions apart)."""
    values = []
    for node in walk(function):
        if isinstance(node, ast.Assign) and any(is_target(t) for t in node.targets):
            values.append(node.value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and is_target(node.target):
            values.append(node.value if isinstance(node, ast.AnnAssign) and node.value is not None else node)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.NamedExpr)):
            targets = [node.target] if isinstance(node, (ast.For, ast.AsyncFor, ast.NamedExpr)) else [
                item.optional_vars for item in node.items if item.optional_vars is not None]
            values += [node for target in targets if is_target(target)]
    return values


def _self_name(function: Function) -> str | None:
    positional = [*function.args.posonlyargs, *function.args.args]
    return positional[0].arg if positional else None


def _per_tenant_parts(built: _Name, ctx) -> list[ast.expr]:
    """The parts of the name that repeat from tenant to tenant; none when a part names the tenant."""
    tenant_words = (*_TENANT_WORDS, *ctx.tenancy.scope_names())
    found = []
    for part in built.parts:
        text = (ctx.segment(part) or ast.unparse(part)).lower()
        if any(word in text for word in tenant_words):
            return []
        if any(word in text for word in _UNIQUE_WORDS):
            continue
        if "user" in text and not ctx.tenancy.user_ids_repeat_across_tenants:
            continue
        found.append(part)
    return found


def _scope_tenant(owner: ast.ClassDef, ctx) -> str | None:
    """The schema name a consumer's own guards read from its scope (`schema_context(self.scope["tenant"]
    .schema_name)`, also through one local variable), as source text."""
    for method in owner.body:
        if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in walk(method):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            guard = ctx.imports.qualify(node.func)
            if guard not in (_SCHEMA_CONTEXT, _TENANT_CONTEXT):
                continue
            argument = node.args[0]
            if isinstance(argument, ast.Name):
                values = _assigned(method, lambda t, name=argument.id: isinstance(t, ast.Name) and t.id == name)
                argument = values[0] if len(values) == 1 and isinstance(values[0], ast.expr) else argument
            if _reads_scope(argument, _self_name(method)):
                text = ast.unparse(argument)
                return text if guard == _SCHEMA_CONTEXT else text + ".schema_name"
    return None


def _reads_scope(node: ast.expr, self_name: str | None) -> bool:
    """`self.scope["tenant"]...`: a subscript of the consumer's scope by a constant, then attributes."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and isinstance(node.value, ast.Attribute) and node.value.attr == "scope"
            and isinstance(node.value.value, ast.Name) and node.value.value.id == self_name)


def _attribute_uses(owner: ast.ClassDef, attribute: str) -> list[ast.Call]:
    """Every call in the class that hands `self.<attribute>` to something: each must be a group call in view."""
    found = []
    for node in walk(owner):
        if isinstance(node, ast.Call) and any(
                isinstance(a, ast.Attribute) and a.attr == attribute for a in [*node.args, *(k.value for k in node.keywords)]):
            found.append(node)
    return found


def _named_elsewhere(prefix: str, built: _Name, ctx) -> bool:
    """The name's literal start, as the start of a name built again (`"chat_{`, `"chat_%`, `"chat_" +`), in
    another file of the project or a second time in this one."""
    spelled = re.compile(re.escape(prefix) + r"""(?:\{|%|["'])""")
    if len(spelled.findall(ctx.source.text)) > 1:
        return True
    text, here = ctx.project_text, real(ctx.path)
    return any(prefix in text.text(path) and spelled.search(text.text(path))
               for path in text.python_files if real(path) != here)


def _requoted(expression: str, quote: str) -> str | None:
    """The expression with its string quotes the other kind than the f-string's (before Python 3.12 an
    f-string cannot hold its own quote)."""
    other = '"' if quote == "'" else "'"
    if quote not in expression:
        return expression
    if other in expression or "\\" in expression:
        return None
    return expression.replace(quote, other)
