"""TL201 unscoped-cache-key: a Django cache key built without the tenant in it."""

from __future__ import annotations

import ast
import bisect
import os
import fnmatch
import re
import string
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Iterator, Union

from tenantlint.diagnostics import Applicability, Diagnostic, Fix, Related, Severity
from tenantlint.known import DEFAULT_CACHE_ALIAS, DJANGO_CACHE, DJANGO_CACHES, SYNC_TO_ASYNC, TENANT_CACHE_KEY_FUNCTIONS
from tenantlint.project import resolve_relative
from tenantlint.rules.base import Rule, register
from tenantlint.rules.cached_data import CachedData, names_a_row
from tenantlint.settings_facts import Mapping, Str
from tenantlint.trees import child_nodes, statement_children, statements, walk

_SYNC_KEY_METHODS = ("get", "set", "add", "delete", "get_or_set", "get_many", "set_many", "delete_many",
                     "incr", "decr", "touch", "has_key")
KEY_METHODS = frozenset(_SYNC_KEY_METHODS) | frozenset("a" + method for method in _SYNC_KEY_METHODS)
_KEY_KEYWORD = {"get_many": "keys", "delete_many": "keys", "set_many": "data"}
ANY_ALIAS = "*"  # `caches[name]` with an alias that cannot be read
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_NESTED_SCOPES = (*_FUNCTIONS, ast.ClassDef, *_COMPREHENSIONS)
# django-tenants picks the tenant from the host, so a key built from the host is per tenant.
_HOST_CALLS = frozenset({"get_host", "build_absolute_uri"})
_HOST_HEADERS = frozenset({"HTTP_HOST", "HTTP_X_FORWARDED_HOST"})
_CONNECTIONS = frozenset({"django.db.connection"})
_MAX_DEPTH = 30
_NAMED_USES = 3
_DUMMY_CACHE = "django.core.cache.backends.dummy.DummyCache"  # stores nothing: no entry to share
_MAX_FOREIGN_DEPTH = 2
_SNIPPET_LENGTH = 60
_PERCENT_FIELD = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<kind>[diouxXeEfFgGcrsa%])")


INSERT = "insert"  # put the schema into the expression that builds the key
WRAP = "wrap"  # turn the key expression into f"{schema}:{key}"
FIX_MESSAGE = "Add the schema name to the cache key"


@dataclass(frozen=True)
class FixTarget:
    """An expression to rewrite, by its span (lines 1-based, columns 0-based characters) and text,
    so the codemod finds it in LibCST's tree and refuses a tree that has moved since."""

    mode: str
    line: int
    col: int
    end_line: int
    end_col: int
    text: str


@dataclass
class KeyFix(Fix):
    """A codemod fix that knows, from detection, which expressions build the reported keys."""

    targets: tuple[FixTarget, ...] = ()


class _Scoped:
    """The key involves the tenant or the schema."""


SCOPED = _Scoped()


@dataclass(frozen=True)
class _Opaque:
    """A value whose origin this module does not show: a parameter, an attribute, another module's call."""

    source: str
    # the schema of the connection read in async code: the event loop thread's, "public" for every tenant
    event_loop_schema: bool = False


@dataclass(frozen=True)
class _Built:
    """A key assembled in this module from literal text and opaque values."""

    pieces: tuple[Union[str, _Opaque], ...]
    node: ast.expr
    helper: str | None = None
    augmented: bool = False  # `key += ...` added to it: its source is no longer one expression
    # `node` is the only place this key can come from: no other assignment or return could build it
    exact: bool = True
    built_in: str | None = None  # another module's file, when an imported project function builds the key

    def has_text(self) -> bool:
        """Literal text that names something (`user:`); bare separators (`f"{a}:{b}"`) do not count."""
        return any(isinstance(piece, str) and any(c.isalnum() for c in piece) for piece in self.pieces)

    def variables(self) -> list[str]:
        found = self.__dict__.get("_variables")  # asked several times for each finding
        if found is None:
            found = self.__dict__["_variables"] = list(
                dict.fromkeys(piece.source for piece in self.pieces if isinstance(piece, _Opaque)))
        return found

    def event_loop_schema(self) -> str | None:
        """The schema read of the key that async code makes on the event loop thread's connection."""
        return next((piece.source for piece in self.pieces if isinstance(piece, _Opaque) and piece.event_loop_schema),
                    None)

    def pattern(self) -> str:
        """The key as text, computed parts written `{...}`: what public-cache-keys globs match."""
        return "".join(piece if isinstance(piece, str) else "{" + piece.source + "}" for piece in self.pieces)


_Shape = Union[_Scoped, _Opaque, _Built]


@dataclass(frozen=True)
class _KeyUse:
    """One cache call using a key built without the tenant, as `visit` judged it."""

    built: _Built
    site: ast.expr  # where the finding is reported: the expression that builds the key
    argument: ast.expr
    func: ast.Attribute
    severity: Severity | None
    fix: "KeyFix | None"
    reason: str  # why no fix is offered, when that needs saying


@dataclass(frozen=True)
class UnscopedCacheCall:
    """A cache call with keys built without the tenant: what TL201 reports and TL202 counts."""

    alias: str
    func: ast.Attribute
    argument: ast.expr
    where: "_Where"
    unscoped: list[tuple[ast.expr, _Built]]
    facts: "_FileFacts"
    handed_to_thread: bool
    shared_by_design: bool  # every key is over data no tenant owns: nothing leaks

    def key_sites(self) -> list[_Built]:
        return [built for _, built in self.unscoped]


@dataclass(frozen=True)
class _Binding:
    """One statement that binds a name in a scope."""

    kind: str  # "assign", "augment", "param", "import", "def", "global", "nonlocal" or "other"
    start: tuple[int, int]
    end: tuple[int, int]
    node: ast.AST | None = None  # the assigned value, or the function defined
    target: str | None = None  # dotted name of a function-level import
    op: ast.operator | None = None


@dataclass(frozen=True)
class _Where:
    """Where a name is read: its function scopes innermost first (module implied), from which position,
    and what a helper's parameters were called with."""

    scopes: tuple[ast.AST, ...]
    before: tuple[int, int] | None
    opaque: frozenset[str] = frozenset()
    arguments: tuple[tuple[str, _Shape], ...] = ()

    def memo_key(self) -> tuple:
        """What a read's result depends on besides the node (kept: every read asks it)."""
        found = self.__dict__.get("_memo_key")
        if found is None:
            found = self.__dict__["_memo_key"] = (tuple(map(id, self.scopes)), self.before, self.opaque, self.arguments)
        return found


@register
class UnscopedCacheKey(Rule):
    code = "TL201"
    name = "unscoped-cache-key"
    summary = "a Django cache key with no tenant component"
    what = (
        "A call on Django's cache (`django.core.cache.cache` however imported, `caches[\"alias\"]`, "
        "also bound to a local first) to a key-taking method (`get`, `set`, `add`, `delete`, "
        "`get_or_set`, `get_many`, `set_many`, `delete_many`, `incr`, `decr`, `touch`, `has_key` "
        "and their async `a*` twins) whose key is built in the same module without the tenant. "
        "The key is followed to where it is built: inline f-string, `%`, `.format`, `+`, `str.join`, "
        "a local variable (the latest assignment before the call), a module constant, a helper "
        "function of the same module (its return expressions), a method of the same class called on "
        "`self`, or an attribute of `self` assigned once, in `__init__`. A cache method handed to "
        "`sync_to_async` / `database_sync_to_async` and called (`sync_to_async(cache.get)(key)`) counts too, "
        "and so does a key returned by a module-level function of another project module (`from .keys "
        "import user_key`), reported at the call with no fix: the key is built in that module. A key counts as scoped when any "
        "name, attribute, subscript key or called function in it contains one of the "
        "tenant-scope-names as an underscore-separated word (`connection.schema_name`, "
        "`request.tenant`, `tenant_id`, `current_tenant`, `get_tenant_key(...)`), including "
        "through the variables and helpers it was built from; one scoped assignment among several "
        "is enough. Each key is reported once, where it is built (the literal in the call, the local's "
        "assignment, the helper's return, the module constant), naming every call that uses it; in JSON "
        "and SARIF the calls are its related places. A key several assignments may build is reported at "
        "the call. Keys made only of literal text are reported too, as warnings rather than errors: "
        "one entry shared by every tenant may be intended. In async code (`async def`) the connection "
        "is the event loop thread's, which the tenant middleware never set: a `connection.schema_name` "
        "read there is \"public\" for every tenant and scopes nothing, and a sync cache call there "
        "(`cache.get`, not `await cache.aget`) is reported even where a tenant `KEY_FUNCTION` is set, "
        "since that function reads the same connection."
    )
    why = (
        "django-tenants separates tenants by database schema, but Django's cache is not in the "
        "database: one Redis or Memcached holds every tenant's entries, and `KEY_PREFIX` is one "
        "prefix for the whole site. Without the schema in the key, `user:42` of tenant A and "
        "`user:42` of tenant B are the same entry: one tenant is served the other's cached user, "
        "permissions or data (the plan's Issue 2). A constant key such as `feature_flags` is "
        "likewise computed by one tenant and served to all. Setting the cache's `KEY_FUNCTION` to "
        "`django_tenants.cache.make_key` prefixes every key with the schema instead."
    )
    avoids = (
        "Silent (outside async code) for a cache alias whose `KEY_FUNCTION` in any settings module is "
        "`django_tenants.cache.make_key`, `tenant_schemas.cache.make_key` or one of "
        "tenant-key-functions (`cache` is the \"default\" alias; for `caches[expr]` any alias "
        "with one), and for an alias every governing settings module makes Django's `DummyCache` (it "
        "stores nothing). Silent when the key's origin is not visible in the project, rather than guessed: a "
        "parameter, an attribute of another object, a library's function, a method of another "
        "class, a loop variable; and when the key has no literal text of its own "
        "(`f\"{prefix}:{key}\"`), unless a part of it names a row (`f\"{user.pk}\"`, `f\"{order_id}:{line}\"`; "
        "not a UUID). Parts of a key built here whose origin is unknown (the "
        "`user_id` parameter in `f\"user:{user_id}\"`) count as not tenant-specific unless their "
        "name says so. Never looks at dict memo caches (`self._cache[key]`, a local dict named "
        "`cache`), at variables named `cache_key` that never reach a cache, or at other cache "
        "libraries. Keys matching a public-cache-keys glob are deliberately shared and not reported; "
        "the glob sees computed parts as `{...}`: `site-config:*` matches `f\"site-config:{lang}\"`."
    )
    fix_description = (
        "Add the schema name as a key segment, as the plan does, where the key is built: "
        "`f\"user:{user_id}\"` becomes "
        "`f\"user:{getattr(connection, 'schema_name', 'public')}:{user_id}\"` and "
        "`from django.db import connection` is added once (joined to an existing `from django.db "
        "import`; imported `as db_connection` when the module uses the name `connection` for "
        "something else). The schema goes after a leading literal that ends in `:`, else in front "
        "(`\"feature_flags\"` becomes `f\"{...}:feature_flags\"`), in the key's own spelling: an "
        "f-string field, a `%s` with its value first (`%(schema)s` and a `\"schema\"` entry for a "
        "mapping), a `{}` with its argument (`{N}` appended for numbered fields, `{schema}` with "
        "`schema=` for named ones), a `+ schema + \":\"` in a concatenation, an element of a "
        "`\":\".join([...])`. A key built in a local or a helper is rewritten there, once, for "
        "every call that uses it. A module constant is evaluated at import, when there is no "
        "tenant, so it stays as it is and each call using it gets `f\"{schema}:{KEY}\"`; so does a "
        "key that several assignments or returns may build. The fix reads "
        "`getattr(connection, \"schema_name\", \"public\")` rather than `connection.schema_name`: "
        "django-tenants' connection always has the attribute, plain Django's does not (a settings "
        "module without django-tenants, a project sharing the code), and a safe fix must not add an "
        "AttributeError; there every key gains the same `public` segment, which costs one round of "
        "cache misses and nothing else. Not fixed: keys built or used in async code, where the schema the fix would read is the "
        "event loop thread's (\"public\"): the tenant has to come from the request or the consumer's scope, "
        "which the code around the key does not show; calls made at import (module or class "
        "level), `get_many` (its result is a dict keyed by the keys passed, which callers rebuild "
        "to read it), and `set_many`/`delete_many` lists that more than one assignment may build. "
        "The fix is safe for keys with a computed part; for keys made only of literal text it is "
        "unsafe, because such an entry may be shared on purpose (filled under one schema, read "
        "under all). Other remedies: `KEY_FUNCTION: \"django_tenants.cache.make_key\"` on the "
        "cache alias, or listing a deliberately shared key in public-cache-keys."
    )
    fix_safety = "safe or unsafe"
    options = ("tenant-scope-names", "tenant-key-functions", "public-cache-keys")
    severity = Severity.ERROR
    node_types = (ast.Call,)
    # `cache.get(...)`, `caches[...]`, `from django.core.cache import cache as c` (not `cached_property`)
    triggers = ("cache.", "caches", "core.cache")
    invalid = (
        """\
from django.core.cache import cache


def get_user_by_id(user_id):
    cache_key = f"user:{user_id}"  # TL201
    user_data = cache.get(cache_key)
    if user_data is None:
        user_data = load_user(user_id)
        cache.set(cache_key, user_data, 300)
    return user_data


def feature_flags():
    return cache.get("feature_flags")  # TL201
""",
    )
    valid = (
        """\
from django.core.cache import cache
from django.db import connection


def get_user_by_id(user_id):
    tenant_schema = getattr(connection, "schema_name", "public")
    cache_key = f"user:{tenant_schema}:{user_id}"
    return cache.get(cache_key)


class Memo:
    def lookup(self, key):
        return self._cache.get(key)
""",
    )

    def __init__(self, options):
        super().__init__(options)
        self._file: tuple[object, _FileFacts] | None = None
        self._keyed: dict[tuple[tuple, str], bool] = {}
        self._uses: tuple[object, list[_KeyUse]] = (None, [])

    def visit(self, node: ast.Call, ctx) -> Iterator[Diagnostic]:
        """Each cache call using a key without the tenant is kept; `finish` reports each key once, where it
        is built, its uses as related places."""
        call = self.unscoped_cache_call(node, ctx.parents, ctx)
        if call is None or call.shared_by_design:
            return
        func, argument, facts, where, unscoped = call.func, call.argument, call.facts, call.where, call.unscoped
        method = func.attr[1:] if func.attr not in _SYNC_KEY_METHODS else func.attr
        if self._caches_nothing(call.alias, ctx):
            return
        on_event_loop = ctx.execution.at(node).runs_async and not call.handed_to_thread
        keyed = self._tenant_keyed(call.alias, ctx)
        if keyed and not (on_event_loop and func.attr in _SYNC_KEY_METHODS):
            return
        built = unscoped[0][1]
        # A constant key may be shared on purpose; a key with a user's id in it is a leak.
        severity = None if built.variables() else Severity.WARNING
        if keyed:  # about where the call runs, not how its key is built: reported at the call
            yield self.diagnostic(ctx.location(argument), facts.keyed_on_event_loop_message(built, func), severity)
            return
        # get_many answers with a dict keyed by the keys it was given, which the caller may rebuild to
        # look entries up; a list another assignment may build would keep its unscoped keys
        fixable = method != "get_many" and (method not in _KEY_KEYWORD or facts.one_container(argument, where))
        reason = ""
        if built.built_in:
            fixable, reason = False, "; no fix offered: add the tenant where the key is built"
        elif built.event_loop_schema():
            fixable, reason = False, "; no fix offered: take the tenant from the request or the consumer's scope"
        elif any(ctx.execution.at(b.node).runs_async for _, b in unscoped):
            fixable = False  # the schema read the fix adds would be the event loop thread's: "public"
            reason = ("; no fix offered: in async code the connection's schema is not the request's tenant, "
                      "take the tenant from the request or the consumer's scope")
        fix = self._key_fix(facts, unscoped) if fixable else None
        # one place builds the key: reported there; several may (branches, a loop): reported at the call
        site = built.node if built.exact else argument
        self._uses_in(ctx).append(_KeyUse(built, site, argument, func, severity, fix, reason))

    def finish(self, ctx) -> Iterator[Diagnostic]:
        uses = self._uses_in(ctx)
        by_site: dict[tuple[int, int], list[_KeyUse]] = {}
        for use in uses:
            by_site.setdefault(_start(use.site), []).append(use)
        facts = self._facts(ctx) if by_site else None
        for site in by_site.values():
            built, where = site[0].built, site[0].site
            severity = None if any(use.severity is None for use in site) else Severity.WARNING
            fixes = [use.fix for use in site]
            fix = None
            if all(fixes):
                targets = tuple(dict.fromkeys(target for f in fixes for target in f.targets))
                safe = all(f.applicability is Applicability.SAFE for f in fixes)
                fix = KeyFix(Applicability.SAFE if safe else Applicability.UNSAFE, FIX_MESSAGE, targets=targets)
            reason = next((use.reason for use in site if use.reason), "")
            related = tuple(Related(ctx.location(use.argument), f"used by {facts.snippet(use.func)}") for use in site
                            if not _start(use.argument) <= _start(where) <= _end(use.argument))
            yield Diagnostic(self.code, facts.message(built, site) + reason, ctx.location(where),
                             severity or self.severity, fix, related)
        uses.clear()

    def _uses_in(self, ctx) -> list["_KeyUse"]:
        if self._uses[0] is not ctx:
            self._uses = (ctx, [])
        return self._uses[1]

    def unscoped_cache_call(self, node: ast.Call, parents: list[ast.AST], ctx) -> "UnscopedCacheCall | None":
        """A call on Django's cache whose keys (some of them) are built without the tenant, whatever the
        alias's KEY_FUNCTION; None for any other call."""
        func = node.func
        handed_to_thread = _handed_to_thread(func, ctx)
        if handed_to_thread is not None:
            func = handed_to_thread  # `sync_to_async(cache.get)(key)`: the key is this call's argument
        if not isinstance(func, ast.Attribute) or func.attr not in KEY_METHODS:
            return None
        method = func.attr[1:] if func.attr not in _SYNC_KEY_METHODS else func.attr
        argument = _key_argument(node, method)
        if argument is None:
            return None
        facts = self._facts(ctx)
        where = _call_site(parents, node)
        alias = facts.cache_alias(func.value, where)
        if alias is None:
            return None
        keys = facts.container_keys(method, argument, where) if method in _KEY_KEYWORD else [(argument, where)]
        unscoped = [(key, built) for key, key_where in keys
                    if (built := self._unscoped(facts.read(key, key_where))) is not None]
        if not unscoped:
            return None
        scopes = [p for p in parents if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        shared = all(facts.cached_data.shared_by_design(b.variables(), scopes) for _, b in unscoped)
        return UnscopedCacheCall(alias, func, argument, where, unscoped, facts, handed_to_thread is not None, shared)

    def _key_fix(self, facts: "_FileFacts", unscoped: list[tuple[ast.expr, _Built]]) -> "KeyFix | None":
        """Where to add the schema for every unscoped key of the call, or None when one cannot be fixed."""
        targets = []
        for key, built in unscoped:
            if built.exact and facts.runs_per_call(built.node):
                targets.append(facts.target(INSERT, built.node))
            elif facts.runs_per_call(key):
                # built once at import (a module constant) or in several places: scope it where it is used
                targets.append(facts.target(WRAP, key))
            else:
                return None
        # A shared constant key may be meant for every tenant (filled by one schema, read by all).
        safe = all(built.variables() for _, built in unscoped)
        return KeyFix(Applicability.SAFE if safe else Applicability.UNSAFE, FIX_MESSAGE,
                      targets=tuple(dict.fromkeys(targets)))

    def apply_fixes(self, module, diagnostics: list[Diagnostic], context):
        from tenantlint.rules._tl201_fix import add_schema

        targets = [target for d in diagnostics if isinstance(d.fix, KeyFix) for target in d.fix.targets]
        return add_schema(module, list(dict.fromkeys(targets)))

    def _unscoped(self, shape: _Shape) -> _Built | None:
        if not isinstance(shape, _Built) or not (shape.has_text() or shape.event_loop_schema()
                                                 or any(map(names_a_row, shape.variables()))):
            return None  # `f"{prefix}:{key}"`: nothing says what it caches; `f"{user.pk}"` names a row
        public = self.options.public_cache_keys
        if public and any(fnmatch.fnmatchcase(shape.pattern(), glob) for glob in public):
            return None
        return shape

    def _facts(self, ctx) -> "_FileFacts":
        if self._file is None or self._file[0] is not ctx:
            self._file = (ctx, _FileFacts(ctx, (*self.options.tenant_scope_names, *ctx.tenancy.scope_names())))
        return self._file[1]

    def _tenant_keyed(self, alias: str, ctx) -> bool:
        """Whether the settings give this alias a KEY_FUNCTION that already prefixes keys per tenant."""
        memo_key = (tuple(ctx.governing_settings), alias)  # the views themselves: kept alive, never confused
        if memo_key not in self._keyed:
            functions = TENANT_CACHE_KEY_FUNCTIONS | set(self.options.tenant_key_functions)
            self._keyed[memo_key] = any(
                _key_function(view, name) in functions
                for view in ctx.governing_settings for name in _aliases(view, alias))
        return self._keyed[memo_key]

    def _caches_nothing(self, alias: str, ctx) -> bool:
        """Whether every settings module governing the code makes this alias Django's dummy cache."""
        views = ctx.governing_settings
        return bool(views) and alias != ANY_ALIAS and all(
            _backend(view, alias) == _DUMMY_CACHE for view in views)


def _aliases(view, alias: str) -> list[str]:
    if alias != ANY_ALIAS:
        return [alias]
    caches = view.lookup("CACHES")
    return list(caches.entries) if isinstance(caches, Mapping) else []


def _backend(view, alias: str) -> str | None:
    value = view.lookup("CACHES", alias, "BACKEND")
    return value.value if isinstance(value, Str) else None


def _key_function(view, alias: str) -> str | None:
    value = view.lookup("CACHES", alias, "KEY_FUNCTION")
    return value.value if isinstance(value, Str) else None


def _handed_to_thread(func: ast.expr, ctx) -> ast.expr | None:
    """`cache.get` in `sync_to_async(cache.get)` / `database_sync_to_async(cache.get)`, called at once."""
    if isinstance(func, ast.Call) and len(func.args) == 1 and isinstance(func.args[0], ast.Attribute) \
            and func.args[0].attr in _SYNC_KEY_METHODS and ctx.imports.qualify(func.func) in SYNC_TO_ASYNC:
        return func.args[0]
    return None


def _key_argument(call: ast.Call, method: str) -> ast.expr | None:
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    keyword = _KEY_KEYWORD.get(method, "key")
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _call_site(parents: list[ast.AST], call: ast.Call) -> _Where:
    functions = [index for index, parent in enumerate(parents) if isinstance(parent, _FUNCTIONS)]
    innermost = functions[-1] if functions else -1
    opaque = frozenset(name for parent in parents[innermost + 1:] if isinstance(parent, _COMPREHENSIONS)
                       for name in _comprehension_targets(parent))
    scopes = tuple(parents[index] for index in reversed(functions))
    return _Where(scopes, (call.lineno, call.col_offset), opaque)


def _comprehension_targets(node: ast.AST) -> set[str]:
    return {name.id for generator in node.generators for name in walk(generator.target)
            if isinstance(name, ast.Name)}


def _start(node: ast.AST) -> tuple[int, int]:
    return node.lineno, node.col_offset


def _end(node: ast.AST) -> tuple[int, int]:
    return node.end_lineno, node.end_col_offset


class _FileFacts:
    """Name bindings of one module and what its cache keys are built from."""

    def __init__(self, ctx, scope_names: tuple[str, ...], foreign_depth: int = 0):
        self.ctx = ctx
        self._scope_names = scope_names
        self._foreign_depth = foreign_depth  # how many imported helpers deep this module is being read
        self._foreign: dict[str, "_FileFacts | None"] = {}
        self._scope_words = tuple(f"_{name.lower()}_" for name in scope_names)
        self._bindings: dict[int, dict[str, _NameBindings]] = {}
        self._folds: dict[tuple, object] = {}
        self._canonical: dict[str, str] = {}
        self._helpers: set[int] = set()
        self._shapes: dict[tuple, _Shape] = {}
        self._depth = 0
        self._bodies: tuple[list[tuple[int, int]], list[tuple[int, int]]] | None = None  # starts, ends
        # without these words no expression binds a name (`:=`) or holds a function (`lambda`): the
        # walks for bindings and function bodies then stay at the statements
        self._walrus = ":=" in ctx.source.text
        self._lambdas = "lambda" in ctx.source.text

    @cached_property
    def cached_data(self) -> CachedData:
        return CachedData(self.ctx)

    # -- names -----------------------------------------------------------
    def is_scope_name(self, name: str) -> bool:
        padded = f"_{name.lower()}_"
        return any(word in padded for word in self._scope_words)

    def bindings(self, scope: ast.AST) -> dict[str, "_NameBindings"]:
        found = self._bindings.get(id(scope))
        if found is None:
            found = self._bindings[id(scope)] = _collect_bindings(scope, self._package(), self._walrus)
        return found

    def _package(self) -> str:
        module = self.ctx.module
        return module.name if module.is_package else module.name.rpartition(".")[0]

    def resolve(self, name: str, where: _Where) -> tuple[list[_Binding], _Where] | None:
        """The bindings of `name` that can reach `where`, and where to read their values (position unset)."""
        if name in where.opaque:
            return None
        for index, scope in enumerate(where.scopes):
            bindings = self.bindings(scope).get(name)
            if not bindings:
                continue
            if bindings.has_global:
                # `global name`: assignments made here before the read still count, else the module's
                earlier = [b for b in bindings if b.kind != "global" and where.before is not None
                           and b.end <= where.before] if index == 0 else []
                if earlier:
                    return earlier, _Where(where.scopes, None, arguments=where.arguments)
                break
            if bindings.has_nonlocal:
                continue
            if index > 0:
                return bindings, _Where(where.scopes[index:], None)
            return bindings.until(where.before), _Where(where.scopes, None, arguments=where.arguments)
        bindings = self.bindings(self.ctx.tree).get(name)
        if not bindings:
            return None
        return bindings.until(where.before) if not where.scopes else bindings, _Where((), None)

    def qualified(self, node: ast.expr, where: _Where) -> str | None:
        """The dotted name of `a.b.c` through imports, or None when `a` is not an import here."""
        parts = []
        head = node
        while isinstance(head, ast.Attribute):
            parts.append(head.attr)
            head = head.value
        if not isinstance(head, ast.Name):
            return None
        resolved = self.resolve(head.id, where)
        if not resolved or not resolved[0] or resolved[0][-1].kind != "import":
            return None
        binding = resolved[0][-1]
        dotted = ".".join([binding.target, *reversed(parts)]) if binding.target else self.ctx.imports.qualify(node)
        return self._follow_reexports(dotted) if dotted else None

    def _follow_reexports(self, dotted: str) -> str:
        """`from core.caching import cache` where core/caching.py imports Django's cache."""
        if dotted not in self._canonical:
            current = dotted
            for _ in range(5):
                if current.startswith("django."):
                    break
                module_name, _, name = current.rpartition(".")
                module = self.ctx.project.module(module_name) if module_name else None
                target = module.imports.bindings.get(name) if module else None
                if not target or target == current:
                    break
                current = target
            self._canonical[dotted] = current
        return self._canonical[dotted]

    def cache_alias(self, node: ast.expr, where: _Where, depth: int = 0) -> str | None:
        """The cache alias an expression is, or None when it is not Django's cache."""
        if isinstance(node, ast.Subscript):
            if self.qualified(node.value, where) != DJANGO_CACHES:
                return None
            alias = node.slice
            return alias.value if isinstance(alias, ast.Constant) and isinstance(alias.value, str) else ANY_ALIAS
        if not isinstance(node, (ast.Name, ast.Attribute)):
            return None
        if self.qualified(node, where) == DJANGO_CACHE:
            return DEFAULT_CACHE_ALIAS
        if isinstance(node, ast.Name) and depth < 5:
            resolved = self.resolve(node.id, where)
            if resolved and resolved[0] and resolved[0][-1].kind == "assign":
                bindings, scope = resolved

                def step(state, binding):
                    if binding.kind != "assign":
                        return state
                    alias = self.cache_alias(binding.node, replace(scope, before=binding.start), depth + 1)
                    return alias, state[1] | {alias} - {None}

                last, aliases = self._fold(("alias", depth), bindings, scope, (None, frozenset()), step)
                if last is None:
                    return None
                # branches binding different aliases: any of them
                return next(iter(aliases)) if len(aliases) == 1 else ANY_ALIAS
        return None

    # -- keys ------------------------------------------------------------
    def container_keys(self, method: str, node: ast.expr, where: _Where, depth: int = 0):
        """The key expressions of a `get_many`/`delete_many` list or a `set_many` dict."""
        if method == "set_many" and isinstance(node, ast.Dict):
            return [(key, where) for key in node.keys if key is not None]
        if method == "set_many" and isinstance(node, ast.DictComp):
            return [(node.key, replace(where, opaque=where.opaque | _comprehension_targets(node)))]
        if method != "set_many" and isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return [(element, where) for element in node.elts if not isinstance(element, ast.Starred)]
        if method != "set_many" and isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            return [(node.elt, replace(where, opaque=where.opaque | _comprehension_targets(node)))]
        if isinstance(node, ast.Name) and depth < 5:
            resolved = self.resolve(node.id, where)
            if resolved and resolved[0] and resolved[0][-1].kind == "assign":
                binding = resolved[0][-1]
                return self.container_keys(method, binding.node, replace(resolved[1], before=binding.start), depth + 1)
        return []

    def one_container(self, node: ast.expr, where: _Where) -> bool:
        """Whether the keys of a `set_many`/`delete_many` argument come from one place only."""
        for _ in range(5):
            if not isinstance(node, ast.Name):
                return True
            resolved = self.resolve(node.id, where)
            if not resolved or len(resolved[0]) != 1:
                return False
            binding = resolved[0][0]
            if binding.kind != "assign":
                return False
            node, where = binding.node, replace(resolved[1], before=binding.start)
        return False

    def read(self, node: ast.expr, where: _Where) -> _Shape:
        """What a key expression is made of, following names and helpers within the module."""
        memo_key = (id(node), where.memo_key())
        if memo_key in self._shapes:
            return self._shapes[memo_key]
        if self._depth >= _MAX_DEPTH:
            return _Opaque(self.snippet(node))
        self._depth += 1
        try:
            shape = self._shapes[memo_key] = self._read(node, where)
        finally:
            self._depth -= 1
        return shape

    def _read(self, node: ast.expr, where: _Where) -> _Shape:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (str, int, float)) and not isinstance(node.value, bool):
                return _Built((str(node.value),), node)
            return _Opaque(self.snippet(node))
        if isinstance(node, ast.JoinedStr):
            parts = [value if isinstance(value, ast.Constant) else value.value for value in node.values]
            return self._concatenation(parts, node, where)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._concatenation([node.left, node.right], node, where)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return self._percent(node, where)
        if isinstance(node, ast.Call):
            return self._call(node, where)
        if isinstance(node, ast.Name):
            return self._name(node, where)
        if isinstance(node, ast.Attribute):
            if self.is_scope_name(node.attr):
                return self._schema_read(node.value, node, where)
            kept = self._kept_on_self(node, where)
            if kept is not None:
                value, init = kept
                return self.read(value, _Where((init, *where.scopes[1:]), _start(value)))
        elif isinstance(node, ast.Subscript):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and (
                    self.is_scope_name(key.value) or key.value in _HOST_HEADERS):
                return SCOPED
        elif isinstance(node, _NESTED_SCOPES):
            return _Opaque(self.snippet(node))
        children = [child for child in child_nodes(node) if isinstance(child, ast.expr)]
        if any(self.read(child, where) is SCOPED for child in children):
            return SCOPED
        return _Opaque(self.snippet(node))

    def _concatenation(self, parts: list[ast.expr], node: ast.expr, where: _Where) -> _Shape:
        pieces: list = []
        for part in parts:
            if part.__class__ is ast.Constant and part.value.__class__ is str:
                pieces.append(part.value)  # literal text: nothing to follow (and most parts are)
                continue
            shape = self.read(part, where)
            if shape is SCOPED:
                return SCOPED
            pieces.extend(_pieces(shape))
        return _Built(tuple(pieces), node)

    def _percent(self, node: ast.BinOp, where: _Where) -> _Shape:
        template = self.read(node.left, where)
        values = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        named = {}
        if isinstance(node.right, ast.Dict):
            values = []
            named = {key.value: value for key, value in zip(node.right.keys, node.right.values)
                     if isinstance(key, ast.Constant) and isinstance(key.value, str)}
        positional = [self.read(value, where) for value in values]
        by_name = {name: self.read(value, where) for name, value in named.items()}
        if template is SCOPED or SCOPED in positional or SCOPED in by_name.values():
            return SCOPED
        fallback = _Opaque(self.snippet(node.right))
        text = _template_text(template)
        if text is None:
            return _Built((*_pieces(template), *(p for shape in positional for p in _pieces(shape))), node)
        pieces: list = []
        position, index = 0, 0
        for match in _PERCENT_FIELD.finditer(text):
            pieces.append(text[position:match.start()])
            position = match.end()
            if match.group("kind") == "%":
                pieces.append("%")
                continue
            if match.group("name") is not None:
                value = by_name.get(match.group("name"))
            else:
                value = positional[index] if index < len(positional) else None
                index += 1
            pieces.extend(_pieces(value) if value is not None else (fallback,))
        pieces.append(text[position:])
        return _Built(tuple(pieces), node)

    def _call(self, node: ast.Call, where: _Where) -> _Shape:
        func = node.func
        positional = [self.read(arg, where) for arg in node.args]
        named = {keyword.arg: self.read(keyword.value, where) for keyword in node.keywords}
        if SCOPED in positional or SCOPED in named.values():
            return SCOPED
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name is not None and (self.is_scope_name(name) or name in _HOST_CALLS):
            return SCOPED
        if name in {"getattr", "hasattr"} and len(node.args) >= 2:
            attribute = node.args[1]  # getattr(connection, "schema_name", "public")
            if isinstance(attribute, ast.Constant) and isinstance(attribute.value, str) \
                    and self.is_scope_name(attribute.value):
                return self._schema_read(node.args[0], node, where)
        if isinstance(func, ast.Attribute):
            receiver = self.read(func.value, where)
            if receiver is SCOPED:
                return SCOPED
            text = _template_text(receiver)
            if text is not None and func.attr == "format":
                return self._format(text, positional, named, node)
            joined = node.args[0] if len(node.args) == 1 else None
            if text is not None and func.attr == "join" and isinstance(joined, (ast.List, ast.Tuple)):
                return self._join(text, joined.elts, node, where)
            method = self._method(func, where)
            if method is not None:
                return self._helper_result((method, replace(where, scopes=where.scopes[1:])), func.attr, node,
                                           positional, named, bound=True)
        elif isinstance(func, ast.Name):
            if func.id == "str" and len(positional) == 1 and not named and self.resolve("str", where) is None:
                return positional[0]
            helper = self._helper(func.id, where)
            if helper is not None:
                return self._helper_result(helper, func.id, node, positional, named)
        if isinstance(func, (ast.Name, ast.Attribute)):
            imported = self._imported_helper(func, where)
            if imported is not None:
                return self._imported_result(imported, node, positional, named)
        return _Opaque(self.snippet(node))

    # -- functions of other project modules --------------------------------
    def _imported_helper(self, func: ast.expr, where: _Where) -> tuple["_FileFacts", ast.FunctionDef] | None:
        """`from .keys import user_key` / `keys.user_key`: a module-level function of another project module."""
        if self._foreign_depth >= _MAX_FOREIGN_DEPTH:
            return None
        dotted = self.qualified(func, where)
        module_name, _, name = (dotted or "").rpartition(".")
        if not module_name or module_name.startswith("django."):
            return None
        other = self._foreign_facts(module_name)
        if other is None:
            return None
        found = [node for node in other.ctx.tree.body if isinstance(node, ast.FunctionDef) and node.name == name]
        return (other, found[0]) if len(found) == 1 and not found[0].decorator_list else None

    def _foreign_facts(self, module_name: str) -> "_FileFacts | None":
        if module_name not in self._foreign:
            module = self.ctx.project.module(module_name, self.ctx.path)
            other = self.ctx.context_of(module.path) if module is not None and module.path != self.ctx.path else None
            self._foreign[module_name] = None if other is None else _FileFacts(
                other, self._scope_names, self._foreign_depth + 1)
        return self._foreign[module_name]

    def _imported_result(self, imported: tuple["_FileFacts", ast.FunctionDef], call: ast.Call,
                         positional: list[_Shape], named: dict) -> _Shape:
        other, function = imported
        shape = other._helper_result((function, _Where((), None)), function.name, call, positional, named)
        if isinstance(shape, _Built):
            # where the key is built is another file: reported at this module's call, fixed there by hand
            return replace(shape, helper=f"{other.ctx.module.name}.{function.name}", exact=False,
                           built_in=other.ctx.path)
        return SCOPED if shape is SCOPED else _Opaque(self.snippet(call))

    # -- the class around a method ---------------------------------------
    def _own_class(self, where: _Where) -> ast.ClassDef | None:
        """The class whose method the read is in, when `self` is that method's first parameter."""
        if not where.scopes:
            return None
        function = where.scopes[0]
        owner = self.ctx.execution.owner_of(function)
        arguments = function.args.posonlyargs + function.args.args if owner is not None else []
        return owner if arguments and arguments[0].arg == "self" else None

    def _method(self, func: ast.Attribute, where: _Where) -> ast.AST | None:
        """`self.key_for(...)`: a method of the same class, defined once in its body."""
        if not (isinstance(func.value, ast.Name) and func.value.id == "self") or "self" in where.opaque:
            return None
        owner = self._own_class(where)
        found = [item for item in owner.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and item.name == func.attr] if owner is not None else []
        return found[0] if len(found) == 1 and not found[0].decorator_list else None

    def _kept_on_self(self, node: ast.Attribute, where: _Where) -> tuple[ast.expr, ast.AST] | None:
        """`self.key`, assigned once in the class's `__init__` and nowhere else in the class: that value,
        read where `__init__` built it."""
        if not (isinstance(node.value, ast.Name) and node.value.id == "self") or "self" in where.opaque:
            return None
        owner = self._own_class(where)
        if owner is None:
            return None
        assigned = [(statement, function) for function in owner.body
                    if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                    for statement in walk(function) if _assigns_self_attribute(statement, node.attr)]
        if len(assigned) != 1 or assigned[0][1].name != "__init__" or not isinstance(assigned[0][0], ast.Assign):
            return None
        return assigned[0][0].value, assigned[0][1]

    def _schema_read(self, owner: ast.expr, node: ast.expr, where: _Where) -> _Shape:
        """`connection.schema_name` scopes a key, except in async code: the connection there is the event
        loop thread's, which the tenant middleware never set (it runs in the request's sync thread)."""
        if self.qualified(owner, where) in _CONNECTIONS and self.ctx.execution.at(node).runs_async:
            return _Opaque(self.snippet(node), event_loop_schema=True)
        return SCOPED

    def _format(self, text: str, positional: list[_Shape], named: dict, node: ast.Call) -> _Shape:
        pieces: list = []
        automatic = 0
        try:
            fields = list(string.Formatter().parse(text))
        except ValueError:
            return _Opaque(self.snippet(node))
        for literal, field_name, _, _ in fields:
            pieces.append(literal)
            if field_name is None:
                continue
            head = re.match(r"[^.\[]*", field_name).group()
            if head == "":
                value = positional[automatic] if automatic < len(positional) else None
                automatic += 1
            elif head.isdigit():
                value = positional[int(head)] if int(head) < len(positional) else None
            else:
                value = named.get(head)
            pieces.extend(_pieces(value) if value is not None else (_Opaque(head or "?"),))
        return _Built(tuple(pieces), node)

    def _join(self, separator: str, elements: list[ast.expr], node: ast.Call, where: _Where) -> _Shape:
        pieces: list = []
        for index, element in enumerate(elements):
            shape = self.read(element, where)
            if shape is SCOPED:
                return SCOPED
            pieces.extend(([separator] if index else []) + list(_pieces(shape)))
        return _Built(tuple(pieces), node)

    def _name(self, node: ast.Name, where: _Where) -> _Shape:
        if self.is_scope_name(node.id):
            return SCOPED
        resolved = self.resolve(node.id, where)
        if resolved is None or not resolved[0]:
            return _Opaque(node.id)
        bindings, scope = resolved

        def step(state: tuple[_Shape, int], binding: _Binding) -> tuple[_Shape, int]:
            current, builds = state
            if current is SCOPED:
                return state
            if binding.kind == "param":
                return dict(scope.arguments).get(node.id, _Opaque(node.id)), builds
            if binding.kind not in {"assign", "augment"}:
                return _Opaque(node.id), builds
            shape = self.read(binding.node, replace(scope, before=binding.start))
            if shape is SCOPED:
                return SCOPED, builds
            if binding.kind == "assign":
                return shape, builds + isinstance(shape, _Built)
            if isinstance(binding.op, ast.Add) and isinstance(current, _Built):
                return replace(current, pieces=(*current.pieces, *_pieces(shape)), augmented=True), builds
            return _Opaque(node.id), builds

        current, builds = self._fold(("name",), bindings, scope, (_Opaque(node.id), 0), step)
        if current is SCOPED:
            return SCOPED
        if not isinstance(current, _Built):
            return _Opaque(node.id)
        # branches (or a loop) may reach the read through another assignment than the last one
        return current if builds <= 1 else replace(current, exact=False)

    def _fold(self, purpose: tuple, bindings: list[_Binding], scope: _Where, initial, step):
        """`step` applied to `initial` and each of `bindings` in turn, remembered for every prefix: a
        name bound N times and read after each binding costs N steps in all, not N²."""
        base = (purpose, tuple(map(id, scope.scopes)), scope.before, scope.opaque, scope.arguments)
        known = len(bindings)
        while known and (base, known, id(bindings[known - 1])) not in self._folds:
            known -= 1
        state = self._folds[(base, known, id(bindings[known - 1]))] if known else initial
        for index in range(known, len(bindings)):
            state = step(state, bindings[index])
            self._folds[(base, index + 1, id(bindings[index]))] = state
        return state

    def _helper(self, name: str, where: _Where) -> tuple[ast.AST, _Where] | None:
        """A function of this module (or a lambda bound to a name) that the key is the result of."""
        resolved = self.resolve(name, where)
        if not resolved or not resolved[0]:
            return None
        binding = resolved[0][-1]
        if binding.kind == "def" or (binding.kind == "assign" and isinstance(binding.node, ast.Lambda)):
            return binding.node, resolved[1]
        return None

    def _helper_result(self, helper: tuple[ast.AST, _Where], name: str, call: ast.Call,
                       positional: list[_Shape], named: dict, bound: bool = False) -> _Shape:
        """What a helper returns for this call; `bound`: a method called on `self`, its first parameter."""
        function, outer = helper
        if id(function) in self._helpers:
            return _Opaque(self.snippet(call))
        self._helpers.add(id(function))
        try:
            arguments = self._arguments(function, call, positional, named, outer, bound)
            results = [self.read(value, _Where((function, *outer.scopes), _start(value), arguments=arguments))
                       for value in _returned(function)]
        finally:
            self._helpers.discard(id(function))
        if SCOPED in results:
            return SCOPED
        built = next((shape for shape in results if isinstance(shape, _Built) and shape.has_text()), None)
        if built is None:
            return _Opaque(self.snippet(call))
        if sum(isinstance(shape, _Built) for shape in results) > 1:
            built = replace(built, exact=False)  # another return may build the key
        if built.helper or not _start(function) <= _start(built.node) <= _end(function):
            return built  # built by an inner helper, or by the caller and passed through
        return replace(built, helper=name)

    def _arguments(self, function: ast.AST, call: ast.Call, positional: list[_Shape], named: dict,
                   outer: _Where, bound: bool = False) -> tuple[tuple[str, _Shape], ...]:
        """What each parameter of a helper holds for this call: the argument, else the default."""
        parameters = function.args
        ordered = [*parameters.posonlyargs, *parameters.args][1 if bound else 0:]
        passed: dict[str, _Shape] = {}
        for parameter, arg, shape in zip(ordered, call.args, positional):
            if isinstance(arg, ast.Starred):
                break
            passed[parameter.arg] = shape
        passed.update((name, shape) for name, shape in named.items() if name is not None)
        defaults = [*zip(ordered[len(ordered) - len(parameters.defaults):], parameters.defaults),
                    *((p, d) for p, d in zip(parameters.kwonlyargs, parameters.kw_defaults) if d is not None)]
        for parameter, default in defaults:
            if parameter.arg not in passed:
                passed[parameter.arg] = self.read(default, outer)
        return tuple(sorted(passed.items()))

    # -- fixing ----------------------------------------------------------
    def runs_per_call(self, node: ast.AST) -> bool:
        """Whether `node` is evaluated each time a function runs (its body), not once at import,
        where there is no tenant yet (module and class level, default values, decorators)."""
        if self._bodies is None:
            nodes = walk(self.ctx.tree) if self._lambdas else statements(self.ctx.tree)
            self._bodies = _outermost(sorted(_body_span(function) for function in nodes
                                             if isinstance(function, _FUNCTIONS)))
        starts, ends = self._bodies
        before = bisect.bisect_right(starts, _start(node)) - 1
        return before >= 0 and _end(node) <= ends[before]

    def target(self, mode: str, node: ast.expr) -> FixTarget:
        return FixTarget(mode, *self.ctx.char_span(node), self.ctx.segment(node))

    # -- reporting -------------------------------------------------------
    def snippet(self, node: ast.AST) -> str:
        return _shorten(self.ctx.segment(node) or ast.unparse(node))

    def keyed_on_event_loop_message(self, built: _Built, func: ast.Attribute) -> str:
        return (f"cache key {self.snippet(built.node)} is prefixed by the cache's tenant KEY_FUNCTION, but "
                f"{self.snippet(func)} runs in async code, where the connection's schema is the event loop "
                "thread's ('public' for every tenant): tenants share this entry; no fix offered")

    def message(self, built: _Built, uses: list[_KeyUse]) -> str:
        text = _shorten('f"' + built.pattern() + '"') if built.augmented or built.built_in else self.snippet(built.node)
        key = f"cache key {text}"
        if built.built_in:
            key += f" (built by {built.helper}() in {os.path.relpath(built.built_in, os.path.dirname(self.ctx.path))})"
        where = self._uses_text(built, uses)
        schema = built.event_loop_schema()
        if schema:
            return (f"{key} reads {schema} in async code, where the connection is the event loop thread's and "
                    f"its schema is 'public' for every tenant: tenants share this entry in {where}")
        variables = built.variables()
        if not variables:
            return (f"{key} has no tenant component: every tenant shares this one entry in {where}; "
                    "list it in public-cache-keys if it is meant to be shared")
        if len(variables) > 3:
            variables = [*variables[:2], f"{len(variables) - 2} other parts"]
        names = variables[0] if len(variables) == 1 else ", ".join(variables[:-1]) + " and " + variables[-1]
        return f"{key} has no tenant component: tenants with the same {names} share this entry in {where}"

    def _uses_text(self, built: _Built, uses: list[_KeyUse]) -> str:
        """`cache.get` for a key written inside its one call, else each call with its line."""
        first = uses[0].argument
        if len(uses) == 1 and _start(first) <= _start(uses[0].site) <= _end(first):
            return self.snippet(uses[0].func)
        named = [f"{self.snippet(use.func)} (line {use.argument.lineno})" for use in uses]
        if len(named) > _NAMED_USES:
            named = [*named[:_NAMED_USES - 1], f"{len(named) - _NAMED_USES + 1} other calls"]
        return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET_LENGTH else text[: _SNIPPET_LENGTH - 3] + "..."


def _pieces(shape: _Shape | None) -> tuple:
    return shape.pieces if isinstance(shape, _Built) else (shape,)


def _template_text(shape: _Shape) -> str | None:
    """The literal text of a key template (`"user:%s"`, `"user:{}"`), when it is all literal."""
    if isinstance(shape, _Built) and all(isinstance(piece, str) for piece in shape.pieces):
        return "".join(shape.pieces)
    return None


def _body_span(function: ast.AST) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(function, ast.Lambda):
        return _start(function.body), _end(function.body)
    return _start(function.body[0]), _end(function.body[-1])


def _outermost(spans: list[tuple[tuple[int, int], tuple[int, int]]]
               ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The starts and ends of the sorted `spans` that no other contains. Function bodies nest or are
    apart, so a node inside any body is inside the outermost body that starts last before it."""
    starts: list[tuple[int, int]] = []
    ends: list[tuple[int, int]] = []
    for start, end in spans:
        if not ends or end > ends[-1]:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _returned(function: ast.AST) -> list[ast.expr]:
    if isinstance(function, ast.Lambda):
        return [function.body]
    found = []
    pending = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            found.append(node.value)
        elif not isinstance(node, _NESTED_SCOPES):
            pending.extend(child_nodes(node))
    return sorted(found, key=_start)


def _assigns_self_attribute(statement: ast.AST, name: str) -> bool:
    """`self.<name> = ...` (also augmented, annotated, or one target among several), or `setattr(self, ...)`."""
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
        targets = [statement.target]
    elif isinstance(statement, ast.Call) and isinstance(statement.func, ast.Name) and statement.func.id == "setattr":
        return bool(statement.args) and isinstance(statement.args[0], ast.Name) and statement.args[0].id == "self"
    else:
        return False
    return any(isinstance(target, ast.Attribute) and target.attr == name and isinstance(target.value, ast.Name)
               and target.value.id == "self" for node in targets for target in walk(node))


def _collect_bindings(scope: ast.AST, package: str, walrus: bool = True) -> dict[str, _NameBindings]:
    """Every binding of every name directly in `scope` (nested functions and classes excluded);
    without `walrus` (no `:=` in the file) the walk skips expressions, where nothing else binds."""
    found: dict[str, list[_Binding]] = {}
    is_module = isinstance(scope, ast.Module)

    def bind(name: str, binding: _Binding) -> None:
        found.setdefault(name, []).append(binding)

    def bind_target(target: ast.expr, statement: ast.AST, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name) and value is not None:
            bind(target.id, _Binding("assign", _start(statement), _end(statement), value))
            return
        for name in walk(target):
            if isinstance(name, ast.Name):
                bind(name.id, _Binding("other", _start(statement), _end(target)))

    if isinstance(scope, _FUNCTIONS):
        arguments = scope.args
        for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                         arguments.vararg, arguments.kwarg]:
            if argument is not None:
                bind(argument.arg, _Binding("param", (0, 0), (0, 0)))
        pending = [scope.body] if isinstance(scope, ast.Lambda) else list(scope.body)
    else:
        pending = list(scope.body)
    pending.reverse()
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "other" if isinstance(node, ast.ClassDef) else "def"
            bind(node.name, _Binding(kind, _start(node), _end(node), node))
            continue
        if isinstance(node, _NESTED_SCOPES):
            continue
        if isinstance(node, ast.Assign):
            for target in node.targets:
                bind_target(target, node, node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            bind_target(node.target, node, node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            bind(node.target.id, _Binding("augment", _start(node), _end(node), node.value, op=node.op))
        elif isinstance(node, ast.NamedExpr):
            bind(node.target.id, _Binding("assign", _start(node), _end(node), node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            bind_target(node.target, node, None)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bind_target(node.optional_vars, node.optional_vars, None)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bind(node.name, _Binding("other", _start(node), _start(node)))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for name, target in _imported(node, package):
                bind(name, _Binding("import", _start(node), _end(node), target=None if is_module else target))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            kind = "global" if isinstance(node, ast.Global) else "nonlocal"
            for name in node.names:
                bind(name, _Binding(kind, _start(node), _start(node)))
        if walrus:
            pending.extend(reversed(list(child_nodes(node))))
        else:
            pending.extend(reversed(statement_children(node)))
            if isinstance(node, (ast.With, ast.AsyncWith)):
                pending.extend(node.items)
    return {name: _NameBindings(bindings) for name, bindings in found.items()}


class _NameBindings(list):
    """One name's bindings in a scope, ordered by where they end, with what every read asks of them."""

    def __init__(self, bindings: list[_Binding]):
        super().__init__(sorted(bindings, key=lambda binding: binding.end))
        self.ends = [binding.end for binding in self]
        self.has_global = any(binding.kind == "global" for binding in self)
        self.has_nonlocal = any(binding.kind == "nonlocal" for binding in self)

    def until(self, position: tuple[int, int] | None) -> list[_Binding]:
        """The bindings that end before `position` (all of them when it is unknown)."""
        return self if position is None else self[: bisect.bisect_right(self.ends, position)]


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> Iterator[tuple[str, str]]:
    """(bound name, dotted target) for each name an import statement binds."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            top = alias.name.split(".")[0]
            yield (alias.asname, alias.name) if alias.asname else (top, top)
        return
    base = resolve_relative(package, node.module, node.level)
    for alias in node.names:
        if alias.name != "*" and base is not None:
            yield alias.asname or alias.name, f"{base}.{alias.name}" if base else alias.name
