"""TL704 session-shared-across-tenants: one session cookie, and one session store, for tenants whose users differ."""

from __future__ import annotations

from typing import Iterator

from tenantlint.diagnostics import Diagnostic
from tenantlint.model.known import TENANT_CACHE_KEY_FUNCTIONS
from tenantlint.model.settings_values import Mapping, Seq, Str
from tenantlint.model.tenancy import app_label
from tenantlint.rules.base import Rule, register

_SESSIONS = "django.contrib.sessions"
_DEFAULT_ENGINE = "django.contrib.sessions.backends.db"
_SUBFOLDERS = "django_tenants.middleware.subfolder.TenantSubfolderMiddleware"


@register
class SessionSharedAcrossTenants(Rule):
    code = "TL704"
    name = "session-shared-across-tenants"
    summary = "the session cookie reaches every tenant while sessions are shared and users are per tenant"
    what = (
        "In a project with one schema per tenant whose users are per tenant (the app of `AUTH_USER_MODEL`, "
        "`django.contrib.auth` by default, in `TENANT_APPS`) and whose sessions are not (the session table in the public schema, or signed-cookie, "
        "file or cache sessions without a tenant `KEY_FUNCTION`): `SESSION_COOKIE_DOMAIN` set (a parent domain "
        "such as `.example.com`, sent to every tenant's subdomain), or tenants served in subfolders of one host "
        "(`TenantSubfolderMiddleware`), where every tenant receives the same cookie anyway. Also "
        "`CSRF_COOKIE_DOMAIN` on a parent domain there."
    )
    why = (
        "A session stores the signed-in user as an id. With the cookie sent to every tenant and one session store "
        "for all, the session of alice, user 7 of tenant A, is found on tenant B's host too, and Django signs in "
        "user 7 of tenant B's own user table: \"same session would mean different users in different tenants\". "
        "A CSRF cookie on the parent domain lets a page of one tenant's subdomain set the CSRF token every other "
        "tenant's forms are checked against."
    )
    avoids = (
        "Silent for host-only cookies (`SESSION_COOKIE_DOMAIN` left `None`, the default), for sessions kept per "
        "tenant (`django.contrib.sessions` in `TENANT_APPS` with database sessions, or a cache whose "
        "`KEY_FUNCTION` is django-tenants' `make_key`), for users shared by every tenant (the user model's app in "
        "`SHARED_APPS` only: tenants then check memberships), and in projects without schemas per tenant."
    )
    fix_description = (
        "No automatic fix: leaving the cookie on the parent domain may be what single sign-on across tenants "
        "needs. Remove `SESSION_COOKIE_DOMAIN` (host-only cookies), or keep sessions per tenant: "
        "`django.contrib.sessions` in `TENANT_APPS` with database sessions, or cache sessions on a cache whose "
        "`KEY_FUNCTION` is `django_tenants.cache.make_key`."
    )
    settings_rule = True
    example_filename = "settings.py"
    invalid = (
        """\
SHARED_APPS = ["django_tenants", "customers", "django.contrib.contenttypes", "django.contrib.sessions"]
TENANT_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
INSTALLED_APPS = SHARED_APPS + ["django.contrib.auth"]
TENANT_MODEL = "customers.Client"
SESSION_COOKIE_DOMAIN = ".example.com"  # TL704
""",
    )
    valid = (
        """\
SHARED_APPS = ["django_tenants", "customers", "django.contrib.contenttypes"]
TENANT_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]
INSTALLED_APPS = SHARED_APPS + ["django.contrib.auth", "django.contrib.sessions"]
TENANT_MODEL = "customers.Client"
SESSION_COOKIE_DOMAIN = ".example.com"
""",
    )

    def check_settings(self, view, ctx) -> Iterator[Diagnostic]:
        tenancy = ctx.tenancy_under(view)
        user_model = view.lookup("AUTH_USER_MODEL")
        users = (user_model.value if isinstance(user_model, Str) else "auth.User").partition(".")[0]
        if not any(app_label(app) == users for app in tenancy.tenant_apps):
            return  # users in the public schema only: the same person in every tenant (memberships decide)
        store = self._shared_store(view, tenancy)
        if store is None:
            return
        domain = view.lookup("SESSION_COOKIE_DOMAIN")
        if isinstance(domain, Str) and domain.value:
            yield self.diagnostic(domain.loc, (
                f"SESSION_COOKIE_DOMAIN {domain.value!r} sends the session cookie to every tenant's host while "
                f"{store} and users are per tenant: a session of user 7 of one tenant signs in user 7 of any other; "
                "leave it None (host-only cookies) or keep sessions per tenant"))
        middleware = view.lookup("MIDDLEWARE")
        if isinstance(middleware, Seq):
            for item in middleware.strings():
                if item.value == _SUBFOLDERS:
                    yield self.diagnostic(item.loc, (
                        f"tenants in subfolders of one host all receive its session cookie, while {store} and users "
                        "are per tenant: a session of user 7 of one tenant signs in user 7 of any other; keep "
                        "sessions per tenant"))
        csrf = view.lookup("CSRF_COOKIE_DOMAIN")
        if isinstance(csrf, Str) and csrf.value:
            yield self.diagnostic(csrf.loc, (
                f"CSRF_COOKIE_DOMAIN {csrf.value!r} shares the CSRF cookie among every tenant's hosts: a page on one "
                "tenant's host can set the token the other tenants' forms are checked against; leave it None"))

    @staticmethod
    def _shared_store(view, tenancy) -> str | None:
        """How sessions are shared by every tenant, as the message says it; None when they are per tenant or
        the settings do not say."""
        engine = view.lookup("SESSION_ENGINE")
        engine = engine.value if isinstance(engine, Str) else _DEFAULT_ENGINE if engine is None else None
        if engine is None:
            return None
        backend = engine.rpartition(".")[2]
        if backend == "signed_cookies":
            return "sessions live in the cookie itself"
        if backend == "file":
            return "sessions are files of one folder"
        if backend in ("cache", "cached_db"):
            alias = view.lookup("SESSION_CACHE_ALIAS")
            alias = alias.value if isinstance(alias, Str) else "default"
            caches = view.lookup("CACHES", alias)
            function = caches.entries.get("KEY_FUNCTION") if isinstance(caches, Mapping) else None
            if isinstance(function, Str) and function.value in TENANT_CACHE_KEY_FUNCTIONS:
                return None if backend == "cache" or tenancy.app_kind(_SESSIONS) == "tenant" else \
                    "the session table is in the public schema"
            return "sessions are cached under keys without the tenant"
        if backend == "db":
            return None if tenancy.app_kind(_SESSIONS) == "tenant" else "the session table is in the public schema"
        return None
