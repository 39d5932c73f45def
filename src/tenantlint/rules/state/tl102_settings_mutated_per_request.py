"""TL102 settings-mutated-per-request: one request's value written on the settings every request reads."""

from __future__ import annotations

import ast
import re
from typing import Iterator

from tenantlint.diagnostics import Diagnostic
from tenantlint.model.execution import AUTHENTICATOR, CONSUMER, MIDDLEWARE, SERIALIZER, TASK, VIEW
from tenantlint.rules.base import Rule, register

# objects of one process that requests read their configuration from
_PROCESS_SETTINGS = {
    "django.conf.settings": "django.conf.settings",
    "rest_framework.settings.api_settings": "DRF's api_settings",
    "rest_framework_simplejwt.settings.api_settings": "simplejwt's api_settings",
    "rest_framework_simplejwt.state.token_backend": "simplejwt's token backend",
}
_WHERE = {MIDDLEWARE: "a middleware", CONSUMER: "a consumer", TASK: "a task", VIEW: "a view",
          AUTHENTICATOR: "an authenticator", SERIALIZER: "a serializer"}


@register
class SettingsMutatedPerRequest(Rule):
    code = "TL102"
    name = "settings-mutated-per-request"
    summary = "a request or task writes its own value on django.conf.settings or a library's settings object"
    what = (
        "An assignment (`=`, augmented, or `setattr`) to an attribute or item of `django.conf.settings` "
        "(`settings.EMAIL_HOST_PASSWORD = ...`, `settings.SIMPLE_JWT[\"SIGNING_KEY\"] = ...`), of DRF's or "
        "simplejwt's `api_settings`, or of simplejwt's module-level `token_backend` "
        "(`token_backend.signing_key = ...`), made in a middleware, a view, an authenticator, a serializer, a "
        "consumer or a task."
    )
    why = (
        "These objects exist once per process and every request reads them: a value set for one tenant's "
        "request (its signing key, SMTP credentials, cookie name, storage bucket) is what the requests of other "
        "tenants served at the same time see, and what every later request sees until something sets it again. "
        "Under threads or ASGI the gap between setting and using is enough for another tenant's request to use "
        "the value, or to replace it: tokens signed with another tenant's key, mail sent with its credentials."
    )
    avoids = (
        "Silent in settings modules, in test code (`override_settings`, fixtures), at import and in "
        "`AppConfig.ready()` (set once for the process, for every tenant), in helpers whose callers are not "
        "known, and for reads."
    )
    fix_description = (
        "No automatic fix: where the per-tenant value should live depends on its reader. Keep it on the request "
        "(`request.tenant`'s fields), pass it to the call that needs it (`get_connection(username=..., "
        "password=...)` for mail, a `TokenBackend(...)` built per tenant for tokens), or make the setting a "
        "callable the library calls per request."
    )
    node_types = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Call)
    triggers = ("settings", "token_backend")
    # a write: `settings.X = `, `settings.X[...] = `, `setattr(settings, ...)` (a file that only reads is not parsed)
    text_pattern = (re.compile(r"settings\s*\.\s*\w+(?:\s*\[[^\]\n]*\])*\s*[-+*/|&]?=(?!=)"),
                    re.compile(r"token_backend\s*\.\s*\w+\s*[-+*/|&]?=(?!=)"),
                    re.compile(r"setattr\(\s*(?:\w+\.)?(?:api_)?(?:settings|token_backend)\b"))
    example_filename = "middleware.py"
    invalid = (
        """\
from django.conf import settings


class TenantMailMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        settings.EMAIL_HOST_PASSWORD = request.tenant.smtp_password  # TL102
        return self.get_response(request)
""",
    )
    valid = (
        """\
from django.core.mail import get_connection


class TenantMailMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.mail_connection = get_connection(password=request.tenant.smtp_password)
        return self.get_response(request)
""",
    )

    def visit(self, node, ctx) -> Iterator[Diagnostic]:
        target = self._written(node)
        if target is None:
            return
        found = self._process_object(target, ctx)
        if found is None:
            return
        role = ctx.execution.at(node).role
        where = _WHERE.get(role)
        if where is None:
            return
        written, owner = found
        unit = "task" if role == TASK else "request"
        yield self.diagnostic(ctx.location(node), (
            f"`{written}` is written in {where}, for one {unit}: {owner} is one object for the whole process, so "
            f"the other tenants' {unit}s run meanwhile, and every later one, read this value; keep the per-tenant "
            "value on the request or the tenant, or pass it to the call that needs it"))

    @staticmethod
    def _written(node) -> ast.expr | None:
        """The attribute or item an assignment writes (the first target of interest), or `setattr`'s object."""
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id == "setattr" and len(node.args) == 3:
                return ast.Attribute(value=node.args[0], attr="<attribute>", ctx=ast.Store())
            return None
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return next((t for t in targets if isinstance(t, (ast.Attribute, ast.Subscript))), None)

    @staticmethod
    def _process_object(target: ast.expr, ctx) -> tuple[str, str] | None:
        """(the written place as shown, the object's name) when the chain starts at a process-wide object."""
        node = target
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            holder = node.value
            dotted = ctx.imports.qualify(holder)
            if dotted in _PROCESS_SETTINGS:
                by_setattr = isinstance(target, ast.Attribute) and target.attr == "<attribute>"
                shown = f"setattr({ctx.segment(holder)}, ...)" if by_setattr else ctx.segment(target)
                return shown, _PROCESS_SETTINGS[dotted]
            node = holder
        return None
