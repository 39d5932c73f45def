"""Dotted names of the Django, DRF, simplejwt, Channels and django-tenants classes the rules know."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenantlint.config import Options
    from tenantlint.project import Project

TENANT_APPS = ("django_tenants", "tenant_schemas")

TENANT_MIDDLEWARE = frozenset({
    "django_tenants.middleware.TenantMainMiddleware",
    "django_tenants.middleware.main.TenantMainMiddleware",
    "django_tenants.middleware.TenantSubfolderMiddleware",
    "django_tenants.middleware.subfolder.TenantSubfolderMiddleware",
    "django_tenants.middleware.default.DefaultTenantMiddleware",
    "django_tenants.middleware.suspicious.SuspiciousTenantMiddleware",
    "tenant_schemas.middleware.TenantMiddleware",
    "tenant_schemas.middleware.BaseTenantMiddleware",
    "tenant_schemas.middleware.DefaultTenantMiddleware",
    "tenant_schemas.middleware.SuspiciousTenantMiddleware",
})

SESSION_MIDDLEWARE = frozenset({"django.contrib.sessions.middleware.SessionMiddleware"})

AUTH_MIDDLEWARE = frozenset({
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.RemoteUserMiddleware",
    "django.contrib.auth.middleware.PersistentRemoteUserMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
})

SESSION_AUTHENTICATION = frozenset({"rest_framework.authentication.SessionAuthentication"})

TOKEN_AUTHENTICATION = frozenset({
    "rest_framework.authentication.TokenAuthentication",
    "rest_framework_simplejwt.authentication.JWTAuthentication",
    "rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication",
    "rest_framework_simplejwt.authentication.JWTTokenUserAuthentication",
    "knox.auth.TokenAuthentication",
    "oauth2_provider.contrib.rest_framework.OAuth2Authentication",
    "oauth2_provider.contrib.rest_framework.authentication.OAuth2Authentication",
    "dj_rest_auth.jwt_auth.JWTCookieAuthentication",
    "rest_framework_jwt.authentication.JSONWebTokenAuthentication",
    "rest_framework_jwt.authentication.BaseJSONWebTokenAuthentication",
})


DJANGO_CACHE = "django.core.cache.cache"
DJANGO_CACHES = "django.core.cache.caches"
DEFAULT_CACHE_ALIAS = "default"

TENANT_CACHE_KEY_FUNCTIONS = frozenset({
    "django_tenants.cache.make_key",
    "tenant_schemas.cache.make_key",
})


def short(dotted: str) -> str:
    return dotted.rpartition(".")[2]


def tenant_middleware_names(options: "Options") -> frozenset[str]:
    return TENANT_MIDDLEWARE | frozenset(options.tenant_middleware)


def derives_from(project: "Project", dotted: str, targets: frozenset[str], near: str | None = None) -> bool:
    """Whether the class named `dotted` (in a file `near`, e.g. a settings module) is one of `targets`."""
    return bool(project.ancestors(dotted, near) & targets)
