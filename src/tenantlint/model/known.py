"""Dotted names of the Django, DRF, simplejwt, Channels and django-tenants classes the rules know."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenantlint.config import Options
    from tenantlint.model.project import Project

TENANT_APPS = ("django_tenants", "tenant_schemas")

TENANT_MIDDLEWARE = frozenset({
    "django_tenants.middleware.TenantMainMiddleware",
    "django_tenants.middleware.main.TenantMainMiddleware",
    "django_tenants.middleware.TenantMiddleware",  # the deprecated alias, still exported
    "django_tenants.middleware.TenantSubfolderMiddleware",
    "django_tenants.middleware.subfolder.TenantSubfolderMiddleware",
    "django_tenants.middleware.default.DefaultTenantMiddleware",
    "django_tenants.middleware.suspicious.SuspiciousTenantMiddleware",
    "tenant_schemas.middleware.TenantMiddleware",
    "tenant_schemas.middleware.BaseTenantMiddleware",
    "tenant_schemas.middleware.DefaultTenantMiddleware",
    "tenant_schemas.middleware.SuspiciousTenantMiddleware",
})

# middleware that reads and writes only its own app's tables: placed before the tenant middleware it is
# harmless where the project installs that app only in SHARED_APPS (the tables live in public, and every
# tenant's search path reaches them there)
OWN_TABLE_MIDDLEWARE = frozenset({"silk.middleware.SilkyMiddleware"})

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


DRF_SERIALIZERS = frozenset({
    "rest_framework.serializers.BaseSerializer",
    "rest_framework.serializers.Serializer",
    "rest_framework.serializers.ModelSerializer",
    "rest_framework.serializers.HyperlinkedModelSerializer",
    "rest_framework.serializers.ListSerializer",
})

MODEL_SIGNALS = frozenset(
    f"django.db.models.signals.{name}"
    for name in ("pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed")
)

SIGNAL_RECEIVER_DECORATORS = frozenset({"django.dispatch.receiver", "django.dispatch.dispatcher.receiver"})


def short(dotted: str) -> str:
    return dotted.rpartition(".")[2]


def tenant_middleware_names(options: "Options") -> frozenset[str]:
    return TENANT_MIDDLEWARE | frozenset(options.tenant_middleware)


def derives_from(project: "Project", dotted: str, targets: frozenset[str], near: str | None = None) -> bool:
    """Whether the class named `dotted` (in a file `near`, e.g. a settings module) is one of `targets`."""
    return bool(project.ancestors(dotted, near) & targets)


# -- TL101: which objects outlive a request ------------------------------------

MIDDLEWARE_MIXIN = "django.utils.deprecation.MiddlewareMixin"

CHANNELS_MIDDLEWARE = frozenset({
    "channels.middleware.BaseMiddleware",
    "channels.auth.AuthMiddleware",
    "channels.sessions.CookieMiddleware",
    "channels.sessions.SessionMiddleware",
    "channels.security.websocket.OriginValidator",
})

MODEL_ADMINS = frozenset({
    "django.contrib.admin.ModelAdmin",
    "django.contrib.admin.options.ModelAdmin",
    "django.contrib.gis.admin.GISModelAdmin",
    "django.contrib.gis.admin.options.GISModelAdmin",
    "django.contrib.auth.admin.UserAdmin",
    "django.contrib.auth.admin.GroupAdmin",
    "django.contrib.flatpages.admin.FlatPageAdmin",
    "django.contrib.redirects.admin.RedirectAdmin",
    "django.contrib.sites.admin.SiteAdmin",
})

ADMIN_SITES = frozenset({"django.contrib.admin.AdminSite", "django.contrib.admin.sites.AdminSite"})

AUTHENTICATORS = frozenset({
    "rest_framework.authentication.BaseAuthentication",
    "rest_framework.authentication.BasicAuthentication",
    "rest_framework.authentication.RemoteUserAuthentication",
}) | SESSION_AUTHENTICATION | TOKEN_AUTHENTICATION

# Objects whose attributes are per thread or per task, not per process.
THREAD_LOCALS = frozenset({
    "threading.local",
    "_threading_local.local",
    "asgiref.local.Local",
    "werkzeug.local.Local",
    "contextvars.ContextVar",
})

# Modules whose classes get a fresh instance per request (views, serializers, forms)
# or per connection (Channels consumers).
PER_REQUEST_MODULES = (
    "django.views",
    "django.forms",
    "rest_framework.views",
    "rest_framework.viewsets",
    "rest_framework.generics",
    "rest_framework.mixins",
    "rest_framework.serializers",
    "channels.consumer",
    "channels.generic",
)


def in_modules(dotted: str, modules: tuple[str, ...]) -> bool:
    return any(dotted.startswith(module + ".") for module in modules)


def is_django_middleware(dotted: str) -> bool:
    """Django's own middleware classes, which all derive from MiddlewareMixin."""
    module = dotted.rpartition(".")[0]
    return (
        dotted == MIDDLEWARE_MIXIN
        or dotted in TENANT_MIDDLEWARE
        or module == "django.middleware"
        or module.startswith("django.middleware.")
        or (module.startswith("django.contrib.") and module.endswith(".middleware"))
    )


# -- TL501, TL502: decoded tokens, the users looked up from them ----------------

SIMPLEJWT_TOKEN_CLASSES = frozenset(
    f"rest_framework_simplejwt.tokens.{name}"
    for name in ("Token", "AccessToken", "RefreshToken", "UntypedToken", "SlidingToken")
)

JWT_DECODE_FUNCTIONS = frozenset({
    "jwt.decode",
    "jwt.decode_complete",
    "jwt.api_jwt.decode",
    "jwt.api_jwt.decode_complete",
    "jose.jwt.decode",
    "rest_framework_simplejwt.state.token_backend.decode",
})

USER_MODELS = frozenset({
    "django.contrib.auth.models.User",
    "django.contrib.auth.models.AbstractUser",
    "django.contrib.auth.models.AbstractBaseUser",
    "django.contrib.auth.base_user.AbstractBaseUser",
})

GET_USER_MODEL = frozenset({"django.contrib.auth.get_user_model"})

GET_OBJECT_OR_404 = frozenset({
    "django.shortcuts.get_object_or_404",
    "django.shortcuts.aget_object_or_404",
    "rest_framework.generics.get_object_or_404",
})

SYNC_TO_ASYNC = frozenset({
    "asgiref.sync.sync_to_async",
    "channels.db.database_sync_to_async",
})

# Exceptions that turn a token away: TL501's fix raises the one a function already raises for bad tokens.
TOKEN_REJECTIONS = frozenset({
    "rest_framework_simplejwt.exceptions.InvalidToken",
    "rest_framework_simplejwt.exceptions.TokenError",
    "rest_framework_simplejwt.exceptions.AuthenticationFailed",
    "rest_framework.exceptions.AuthenticationFailed",
    "rest_framework.exceptions.NotAuthenticated",
    "rest_framework.exceptions.PermissionDenied",
    "django.core.exceptions.PermissionDenied",
    "jwt.InvalidTokenError",
    "jwt.exceptions.InvalidTokenError",
    "jose.JWTError",
    "jose.exceptions.JWTError",
})

# Module-level loggers a fix's warning may go to.
LOGGER_FACTORIES = frozenset({"logging.getLogger", "structlog.get_logger", "structlog.getLogger",
                              "celery.utils.log.get_task_logger", "celery.utils.log.get_logger"})

# the default database connection, and the handler indexed by alias (`connections["default"]`)
DB_CONNECTION = "django.db.connection"
DB_CONNECTIONS = "django.db.connections"
# django-tenants' guards: each switches the connection for its block and switches it back on every path
TENANT_GUARDS = {"set_tenant": "django_tenants.utils.tenant_context", "set_schema": "django_tenants.utils.schema_context"}
