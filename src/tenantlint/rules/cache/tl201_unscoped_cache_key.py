"""TL201 unscoped-cache-key: a Django cache key built without the tenant in it."""

from __future__ import annotations

import ast
import bisect
import fnmatch
import os
import re
from dataclasses import dataclass, replace
from typing import Iterator

from tenantlint.diagnostics import Applicability, Diagnostic, Related, Severity
from tenantlint.model.known import (
    DEFAULT_CACHE_ALIAS,
    DJANGO_CACHE,
    DJANGO_CACHES,
    SYNC_TO_ASYNC,
    TENANT_CACHE_KEY_FUNCTIONS,
)
from tenantlint.model.settings_values import Mapping, Str
from tenantlint.model.tenancy import NONE, ROW, SCHEMA, UNKNOWN, USER
from tenantlint.rules.base import Rule, register
from tenantlint.rules.cache.cached_data import names_a_row
from tenantlint.rules.cache.key_groups import (
    SCAN_METHODS,
    UNTOUCHED_KEY_METHODS,
    KeyUse,
    UntouchedUse,
    identity,
    scan_head,
    settle,
)
from tenantlint.rules.cache.key_reader import KeyReader, shorten
from tenantlint.rules.cache.key_shapes import (
    COMPREHENSIONS,
    FIX_MESSAGE,
    FUNCTIONS,
    INSERT,
    WRAP,
    Built,
    FixTarget,
    KeyFix,
    Shape,
    Where,
    comprehension_targets,
    end_of,
    start_of,
)
from tenantlint.trees import statements, walk

_SYNC_KEY_METHODS = ("get", "set", "add", "delete", "get_or_set", "get_many", "set_many", "delete_many",
                     "incr", "decr", "touch", "has_key")
KEY_METHODS = frozenset(_SYNC_KEY_METHODS) | frozenset("a" + method for method in _SYNC_KEY_METHODS)
_KEY_KEYWORD = {"get_many": "keys", "delete_many": "keys", "set_many": "data"}
ANY_ALIAS = "*"  # `caches[name]` with an alias that cannot be read
# tenancies with one schema for every tenant, as a message names them
# words of a key's literal text that say the entry is meant for everyone
_SAYS_SHARED = re.compile(r"(?:^|[^a-z])(?:public|global|shared|site|sitewide|health|heartbeat|ping)(?:[^a-z]|$)",
                          re.IGNORECASE)
_ONE_SCHEMA = {ROW: "row-level tenancy", USER: "the tenant taken from the user", NONE: "no tenancy in sight"}
_NAMED_USES = 3
_DUMMY_CACHE = "django.core.cache.backends.dummy.DummyCache"  # stores nothing: no entry to share


@dataclass(frozen=True)
class UnscopedCacheCall:
    """A cache call with keys built without the tenant: what TL201 reports and TL202 counts."""

    alias: str
    func: ast.Attribute
    argument: ast.expr
    where: "Where"
    unscoped: list[tuple[ast.expr, Built]]
    facts: "CacheCalls"
    handed_to_thread: bool
    shared_by_design: bool  # every key is over data no tenant owns: nothing leaks

    def key_sites(self) -> list[Built]:
        return [built for _, built in self.unscoped]


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
        "Put the schema name in front of the key, where the key is built: `f\"user:{user_id}\"` becomes "
        "`f\"{getattr(connection, 'schema_name', 'public')}:user:{user_id}\"` and "
        "`from django.db import connection` is added once (joined to an existing `from django.db "
        "import`; imported `as db_connection` when the module uses the name `connection` for "
        "something else). The schema always leads, as django-tenants' own `make_key` puts it, so two "
        "spellings of one key (`f\"{presence_key}:{user_id}\"` and `f\"doc_presence:{doc}:{user_id}\"`) "
        "still meet once fixed; it goes in in the key's own spelling: an f-string field, a `%s` with its "
        "value first (`%(schema)s` and a `\"schema\"` entry for a mapping), a `{}` with its argument "
        "(`{N}` appended for numbered fields, `{schema}` with `schema=` for named ones), a "
        "`schema + \":\" +` in a concatenation, the first element of a `\":\".join([...])`. A key built "
        "in a local or a helper is rewritten there, once, for every call that uses it. A module "
        "constant is evaluated at import, when there is no tenant, so it stays as it is and each call "
        "using it gets `f\"{schema}:{KEY}\"`; so does a key that several assignments or returns may "
        "build. The fix reads `getattr(connection, \"schema_name\", \"public\")` rather than "
        "`connection.schema_name`: django-tenants' connection always has the attribute, plain Django's "
        "does not (a settings module without django-tenants, a project sharing the code), and a safe fix "
        "must not add an AttributeError; there every key gains the same `public` segment, which costs one "
        "round of cache misses and nothing else. The uses of one key in a module (the same literal text, "
        "whatever fills its computed parts) are fixed alike or not at all: when one of them cannot be "
        "fixed, none is (a fixed writer and an unfixed reader would stop meeting), and when a call the "
        "fix does not rewrite reaches the key (a django-redis `keys(\"doc_presence:*\")` scan, `ttl`, "
        "`expire`, `incr_version`), the fix is unsafe and the message names that call. Not fixed: keys "
        "built or used in async code, where the schema the fix would read is the event loop thread's "
        "(\"public\"): the tenant has to come from the request or the consumer's scope, which the code "
        "around the key does not show; calls made at import (module or class level), `get_many` (its "
        "result is a dict keyed by the keys passed, which callers rebuild to read it), and "
        "`set_many`/`delete_many` lists that more than one assignment may build; keys of a project whose "
        "tenants share one schema (row-level tenancy, a tenant taken from the user), where the segment "
        "would be the same `public` for every tenant: the tenant's id belongs in the key. "
        "The fix is safe for keys with a computed part; for keys made only of literal text it is "
        "unsafe, because such an entry may be shared on purpose (filled under one schema, read "
        "under all), and so is it for a key whose own words say it is shared (`public`, `global`, "
        "`shared`, `site`, `health`, `heartbeat`, `ping`). Other remedies: `KEY_FUNCTION: \"django_tenants.cache.make_key\"` on the "
        "cache alias, or listing a deliberately shared key in public-cache-keys."
    )
    fix_safety = "safe or unsafe"
    options = ("tenant-scope-names", "tenant-key-functions", "public-cache-keys")
    severity = Severity.ERROR
    node_types = (ast.Call,)
    # `cache.get(...)`, `caches[...]`, `from django.core.cache import cache as c` (not `cached_property`, not
    # `self._cache.`)
    triggers = (r"\bcache.", r"\bcaches\b", "core.cache")
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
        self._file: tuple[object, CacheCalls] | None = None
        self._keyed: dict[tuple[tuple, str], bool] = {}
        self._uses: tuple[object, list[KeyUse], list[UntouchedUse]] = (None, [], [])

    def visit(self, node: ast.Call, ctx) -> Iterator[Diagnostic]:
        """Each cache call using a key without the tenant is kept; `finish` reports each key once, where it
        is built, its uses as related places."""
        untouched = self._untouched_use(node, ctx)
        if untouched is not None:
            self._file_uses(ctx)[1].append(untouched)
            return
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
        elif ctx.tenancy.kind not in (SCHEMA, UNKNOWN):
            fixable = False  # one schema for every tenant: the segment the fix adds would be one constant
            reason = (f"; no fix offered: with {_ONE_SCHEMA.get(ctx.tenancy.kind, ctx.tenancy.kind)} every tenant "
                      "shares one schema, so a schema segment would change nothing: add the tenant's id where the "
                      "key is built")
        elif any(ctx.execution.at(b.node).runs_async for _, b in unscoped):
            fixable = False  # the schema read the fix adds would be the event loop thread's: "public"
            reason = ("; no fix offered: in async code the connection's schema is not the request's tenant, "
                      "take the tenant from the request or the consumer's scope")
        fix = self._key_fix(facts, unscoped) if fixable else None
        # one place builds the key: reported there; several may (branches, a loop): reported at the call
        site = built.node if built.exact else argument
        self._file_uses(ctx)[0].append(KeyUse(built, site, argument, func, severity, fix, reason))

    def finish(self, ctx) -> Iterator[Diagnostic]:
        found, untouched = self._file_uses(ctx)
        uses = settle(found, untouched)
        by_site: dict[tuple[int, int], list[KeyUse]] = {}
        for use in uses:
            by_site.setdefault(start_of(use.site), []).append(use)
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
                            if not start_of(use.argument) <= start_of(where) <= end_of(use.argument))
            yield Diagnostic(self.code, facts.message(built, site) + reason, ctx.location(where),
                             severity or self.severity, fix, related)
        found.clear()
        untouched.clear()

    def _file_uses(self, ctx) -> tuple[list[KeyUse], list[UntouchedUse]]:
        if self._uses[0] is not ctx:
            self._uses = (ctx, [], [])
        return self._uses[1], self._uses[2]

    def _untouched_use(self, node: ast.Call, ctx) -> UntouchedUse | None:
        """A scan (`cache.keys("user:*")`) or a key call the fix does not rewrite (`cache.ttl(key)`)."""
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr in SCAN_METHODS | UNTOUCHED_KEY_METHODS and node.args):
            return None
        facts = self._facts(ctx)
        where = _call_site(ctx.parents, node)
        if facts.cache_alias(func.value, where) is None:
            return None
        shape = facts.read(node.args[0], where)
        if not isinstance(shape, Built):
            return None
        is_scan = func.attr in SCAN_METHODS
        text = scan_head(shape) if is_scan else identity(shape)
        return UntouchedUse(text, is_scan, node, facts.snippet(func)) if text else None

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

    def _key_fix(self, facts: "CacheCalls", unscoped: list[tuple[ast.expr, Built]]) -> "KeyFix | None":
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
        # A shared constant key may be meant for every tenant (filled by one schema, read by all), and so
        # may a key whose own words say it is shared (`public:`, `global:`, `site:`, a health check)
        safe = all(built.variables() and not _SAYS_SHARED.search(built.pattern()) for _, built in unscoped)
        return KeyFix(Applicability.SAFE if safe else Applicability.UNSAFE, FIX_MESSAGE,
                      targets=tuple(dict.fromkeys(targets)))

    def apply_fixes(self, module, diagnostics: list[Diagnostic], context):
        from tenantlint.rules.cache.key_fix import add_schema

        targets = [target for d in diagnostics if isinstance(d.fix, KeyFix) for target in d.fix.targets]
        return add_schema(module, list(dict.fromkeys(targets)))

    def _unscoped(self, shape: Shape) -> Built | None:
        if not isinstance(shape, Built) or not (shape.has_text() or shape.event_loop_schema()
                                                 or any(map(names_a_row, shape.variables()))):
            return None  # `f"{prefix}:{key}"`: nothing says what it caches; `f"{user.pk}"` names a row
        public = self.options.public_cache_keys
        if public and any(fnmatch.fnmatchcase(shape.pattern(), glob) for glob in public):
            return None
        return shape

    def _facts(self, ctx) -> "CacheCalls":
        if self._file is None or self._file[0] is not ctx:
            self._file = (ctx, CacheCalls(ctx, (*self.options.tenant_scope_names, *ctx.tenancy.scope_names())))
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


def _call_site(parents: list[ast.AST], call: ast.Call) -> Where:
    functions = [index for index, parent in enumerate(parents) if isinstance(parent, FUNCTIONS)]
    innermost = functions[-1] if functions else -1
    opaque = frozenset(name for parent in parents[innermost + 1:] if isinstance(parent, COMPREHENSIONS)
                       for name in comprehension_targets(parent))
    scopes = tuple(parents[index] for index in reversed(functions))
    return Where(scopes, (call.lineno, call.col_offset), opaque)


class CacheCalls(KeyReader):
    """A module's calls on Django's cache: the alias each uses, the keys it passes, where a fix would put
    the schema, and how a finding says it."""

    def __init__(self, ctx, scope_names: tuple[str, ...], foreign_depth: int = 0):
        super().__init__(ctx, scope_names, foreign_depth)
        self._bodies: tuple[list[tuple[int, int]], list[tuple[int, int]]] | None = None  # starts, ends
        # without `lambda` in the text no expression holds a function: the walk for bodies stays at statements
        self._lambdas = "lambda" in ctx.source.text

    def cache_alias(self, node: ast.expr, where: Where, depth: int = 0) -> str | None:
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

                last, aliases = self.fold(("alias", depth), bindings, scope, (None, frozenset()), step)
                if last is None:
                    return None
                # branches binding different aliases: any of them
                return next(iter(aliases)) if len(aliases) == 1 else ANY_ALIAS
        return None

    def container_keys(self, method: str, node: ast.expr, where: Where, depth: int = 0):
        """The key expressions of a `get_many`/`delete_many` list or a `set_many` dict."""
        if method == "set_many" and isinstance(node, ast.Dict):
            return [(key, where) for key in node.keys if key is not None]
        if method == "set_many" and isinstance(node, ast.DictComp):
            return [(node.key, replace(where, opaque=where.opaque | comprehension_targets(node)))]
        if method != "set_many" and isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return [(element, where) for element in node.elts if not isinstance(element, ast.Starred)]
        if method != "set_many" and isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            return [(node.elt, replace(where, opaque=where.opaque | comprehension_targets(node)))]
        if isinstance(node, ast.Name) and depth < 5:
            resolved = self.resolve(node.id, where)
            if resolved and resolved[0] and resolved[0][-1].kind == "assign":
                binding = resolved[0][-1]
                return self.container_keys(method, binding.node, replace(resolved[1], before=binding.start), depth + 1)
        return []

    def one_container(self, node: ast.expr, where: Where) -> bool:
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

    def runs_per_call(self, node: ast.AST) -> bool:
        """Whether `node` is evaluated each time a function runs (its body), not once at import,
        where there is no tenant yet (module and class level, default values, decorators)."""
        if self._bodies is None:
            nodes = walk(self.ctx.tree) if self._lambdas else statements(self.ctx.tree)
            self._bodies = _outermost(sorted(_body_span(function) for function in nodes
                                             if isinstance(function, FUNCTIONS)))
        starts, ends = self._bodies
        before = bisect.bisect_right(starts, start_of(node)) - 1
        return before >= 0 and end_of(node) <= ends[before]

    def target(self, mode: str, node: ast.expr) -> FixTarget:
        return FixTarget(*self.ctx.char_span(node), self.ctx.segment(node) or "", mode=mode)

    def keyed_on_event_loop_message(self, built: Built, func: ast.Attribute) -> str:
        return (f"cache key {self.snippet(built.node)} is prefixed by the cache's tenant KEY_FUNCTION, but "
                f"{self.snippet(func)} runs in async code, where the connection's schema is the event loop "
                "thread's ('public' for every tenant): tenants share this entry; no fix offered")

    def message(self, built: Built, uses: list[KeyUse]) -> str:
        text = shorten('f"' + built.pattern() + '"') if built.augmented or built.built_in else self.snippet(built.node)
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

    def _uses_text(self, built: Built, uses: list[KeyUse]) -> str:
        """`cache.get` for a key written inside its one call, else each call with its line."""
        first = uses[0].argument
        if len(uses) == 1 and start_of(first) <= start_of(uses[0].site) <= end_of(first):
            return self.snippet(uses[0].func)
        named = [f"{self.snippet(use.func)} (line {use.argument.lineno})" for use in uses]
        if len(named) > _NAMED_USES:
            named = [*named[:_NAMED_USES - 1], f"{len(named) - _NAMED_USES + 1} other calls"]
        return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def _body_span(function: ast.AST) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(function, ast.Lambda):
        return start_of(function.body), end_of(function.body)
    return start_of(function.body[0]), end_of(function.body[-1])


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


