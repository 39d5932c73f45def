"""TL202 cache-without-tenant-key-function: a schema-per-tenant project's cache alias with no tenant KEY_FUNCTION."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Severity
from tenantlint.model.project import real
from tenantlint.model.settings_values import Mapping, Str
from tenantlint.model.tenancy import SCHEMA
from tenantlint.rules.base import Rule, register
from tenantlint.rules.cache.tl201_unscoped_cache_key import UnscopedCacheKey
from tenantlint.rules.edits.settings_lines import indent_of, insert_before_line, line_ending
from tenantlint.trees import walk_with_parents

# a cache whose entries no two tenants can share, or whose sharing depends on where its table was created
_NOT_SHARED = frozenset({
    "django.core.cache.backends.dummy.DummyCache",
    "django.core.cache.backends.db.DatabaseCache",
})
# the schema package the project uses -> its key functions
_KEY_FUNCTIONS = {
    "django_tenants": ("django_tenants.cache.make_key", "django_tenants.cache.reverse_key"),
    "tenant_schemas": ("tenant_schemas.cache.make_key", "tenant_schemas.cache.reverse_key"),
}
_SHOWN_KEYS = 3

# a file that may use a Django cache (a superset of TL201's words, as plain text)
_CACHE_WORDS = ("cache.", "caches", "core.cache")


@dataclass(frozen=True)
class KeySite:
    """Where a key without the tenant is built, and what it is."""

    path: str
    line: int
    pattern: str  # the key as text, computed parts as `{...}`
    leaks: bool  # over per-tenant data (what TL201 reports), not shared by design
    constant: bool  # literal text only: it looks meant for every tenant


def _listed(patterns: list[str]) -> str:
    shown = ", ".join(f'"{pattern}"' for pattern in patterns[:_SHOWN_KEYS])
    return shown + (", ..." if len(patterns) > _SHOWN_KEYS else "")


@register
class CacheWithoutTenantKeyFunction(Rule):
    code = "TL202"
    name = "cache-without-tenant-key-function"
    summary = "a schema-per-tenant project's cache alias has no tenant KEY_FUNCTION"
    what = (
        "In a schema-per-tenant project (django-tenants, django-tenant-schemas), an alias of `CACHES` "
        "with no `KEY_FUNCTION`, used by cache keys built without the tenant (the keys TL201 reports, "
        "counted over every file these settings govern). One finding on the alias, saying how many "
        "such keys use it and which of them look global (made only of literal text)."
    )
    why = (
        "Tenants are kept apart in the database, not in the cache: one Redis, Memcached or process "
        "memory holds every tenant's entries, and a key without the schema (`user:42`) names the same "
        "entry for user 42 of every tenant. django-tenants ships a `KEY_FUNCTION` that prefixes every "
        "key with the active schema, which scopes all of an alias's keys at once, including those "
        "built in other libraries. It also makes keys that were meant to be shared by all tenants per "
        "tenant, which is why the finding names the keys that look global."
    )
    avoids = (
        "Silent outside schema-per-tenant projects (with row-level tenancy or a tenant taken from the "
        "user ids are global and a schema prefix is the same `public` for every request), for an "
        "alias that sets any `KEY_FUNCTION` (a project function may scope keys; list it in "
        "tenant-key-functions for TL201), for the dummy cache and the database cache (whose table "
        "lives in whichever schema it was created in), for an alias or `CACHES` that cannot be read "
        "fully, and when no key built without the tenant uses the alias."
    )
    fix_description = (
        "Add `\"KEY_FUNCTION\": \"django_tenants.cache.make_key\"` and `\"REVERSE_KEY_FUNCTION\": "
        "\"django_tenants.cache.reverse_key\"` (the `tenant_schemas` functions in a "
        "django-tenant-schemas project) as the first entries of the alias's dictionary. Offered when "
        "the dictionary opens a line of its own and its entries follow on the next lines. Unsafe: every "
        "key of the alias changes, so entries cached so far are missed once, keys meant to be shared by "
        "every tenant become per tenant, and code running outside a tenant (async code, tasks, commands) "
        "gets the `public` prefix."
    )
    fix_safety = "unsafe"
    options = ("public-cache-keys",)
    severity = Severity.WARNING
    settings_rule = True
    example_filename = "settings.py"
    invalid = (
        """\
INSTALLED_APPS = ["django_tenants", "customers"]
CACHES = {
    "default": {  # TL202
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://localhost:6379/0",
    },
}


def cached_user(user_id):
    from django.core.cache import cache

    return cache.get(f"user:{user_id}")
""",
    )
    valid = (
        """\
INSTALLED_APPS = ["django_tenants", "customers"]
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    },
}


def cached_user(user_id):
    from django.core.cache import cache

    return cache.get(f"user:{user_id}")
""",
    )

    def __init__(self, options):
        super().__init__(options)
        self._keys = UnscopedCacheKey(options)
        self._census: dict[int, tuple[object, dict]] = {}

    def check_settings(self, view, ctx) -> Iterator[Diagnostic]:
        caches = view.get("CACHES")
        tenancy = ctx.tenancy_under(view)
        if not isinstance(caches, Mapping) or not caches.complete or tenancy.kind != SCHEMA:
            return
        census = None
        for alias, config in caches.entries.items():
            if not isinstance(config, Mapping) or not config.complete or "KEY_FUNCTION" in config.entries:
                continue
            backend = config.entries.get("BACKEND")
            if not isinstance(backend, Str) or backend.value in _NOT_SHARED:
                continue
            census = self._census_of(view, ctx) if census is None else census
            sites = census.get(alias, [])
            if any(site.leaks for site in sites):
                yield self.diagnostic(config.loc, self._message(alias, sites, ctx), fix=self._fix(config, view, ctx))

    def _census_of(self, view, ctx) -> dict[str, list[KeySite]]:
        """Every key build site without the tenant in the code `view` governs, by the alias it is used with,
        in file and line order."""
        known = self._census.get(id(view))
        if known is not None and known[0] is view:
            return known[1]
        sites: dict[str, dict[tuple[str, int, int], KeySite]] = {}
        text = ctx.project_text_under(view)
        for path in text.python_files:
            ctx.project.touched.add(real(path))  # a cache call added anywhere changes the count
            if not any(word in text.text(path) for word in _CACHE_WORDS):
                continue
            other = ctx.context_of(path)
            if other is None:
                continue
            for node, parents in walk_with_parents(other.tree):
                call = self._keys.unscoped_cache_call(node, parents, other) if isinstance(node, ast.Call) else None
                for built in call.key_sites() if call is not None else ():
                    place = (path, built.node.lineno, built.node.col_offset)
                    sites.setdefault(call.alias, {})[place] = KeySite(path, built.node.lineno, built.pattern(),
                                                                      not call.shared_by_design, not built.variables())
        found = {alias: [places[place] for place in sorted(places)] for alias, places in sites.items()}
        self._census[id(view)] = (view, found)
        return found

    @staticmethod
    def _message(alias: str, sites: list["KeySite"], ctx) -> str:
        leaking = [site.pattern for site in sites if site.leaks]
        looks_global = [site.pattern for site in sites if site.constant]
        keys = "1 key built without the tenant uses it" if len(leaking) == 1 else \
            f"{len(leaking)} keys built without the tenant use it"
        message = (f"cache alias \"{alias}\" has no tenant KEY_FUNCTION although every tenant shares this cache: "
                   f"{keys} ({_listed(leaking)})")
        if looks_global:
            some = "1 key that looks global" if len(looks_global) == 1 else f"{len(looks_global)} keys that look global"
            message += (f"; with one, {some} would become per tenant too ({_listed(looks_global)}): "
                        "keep keys meant for every tenant on an alias of their own")
        return message

    def _fix(self, config: Mapping, view, ctx):
        """The key functions as the first entries: after the dictionary's opening line, indented as the entry
        that follows it."""
        functions = next((pair for app, pair in _KEY_FUNCTIONS.items() if view.app_installed(app)), None)
        loc = config.loc
        if functions is None or loc.end_line <= loc.line:
            return None
        lines = ctx.settings.source_lines(loc.path)
        opening = lines[loc.line - 1].rstrip("\r\n").split("#", 1)[0].rstrip()
        entry_line = lines[loc.line] if loc.line < len(lines) else ""
        if not opening.endswith("{") or not entry_line.strip() or entry_line.lstrip().startswith(("}", "#", "**")):
            return None
        quote = "'" if entry_line.lstrip()[:1] == "'" else '"'
        indent, ending = indent_of(entry_line), line_ending(entry_line)
        added = "".join(f"{indent}{quote}{name}{quote}: {quote}{function}{quote},{ending}"
                        for name, function in zip(("KEY_FUNCTION", "REVERSE_KEY_FUNCTION"), functions))
        return self.fix(f"Add the tenant KEY_FUNCTION '{functions[0]}' to the alias",
                        [insert_before_line(loc.line + 1, added)])
