"""TL503 view-auth-override: a view's own class list drops the tenant check its project's defaults make."""

from __future__ import annotations

import ast
import re
from typing import Iterator

from tenantlint.diagnostics import Diagnostic
from tenantlint.model.execution import TEST, VIEW
from tenantlint.model.settings_values import Seq
from tenantlint.model.summaries import Reach, class_methods, names_the_tenant, tenant_model_use
from tenantlint.rules.base import SCHEMA_PER_TENANT_SETTINGS, Rule, register
from tenantlint.trees import walk

_SETTINGS = {"authentication_classes": "DEFAULT_AUTHENTICATION_CLASSES",
             "permission_classes": "DEFAULT_PERMISSION_CLASSES"}
_DECORATORS = {"rest_framework.decorators.authentication_classes": "authentication_classes",
               "rest_framework.decorators.permission_classes": "permission_classes"}
# endpoints that serve everyone on purpose: signing in and up, tokens, health probes, hooks from outside
_PUBLIC_NAME = re.compile(r"login|logout|signin|signup|register|token|password|reset|verify|health|ping|status|"
                          r"webhook|callback|public|invite", re.IGNORECASE)


@register
class ViewAuthOverride(Rule):
    code = "TL503"
    name = "view-auth-override"
    summary = "a view's authentication_classes or permission_classes leave out the tenant check of the defaults"
    what = (
        "A DRF view or viewset whose `authentication_classes` or `permission_classes` (class attributes, or "
        "`@authentication_classes([...])` / `@permission_classes([...])` on a function view) replace the "
        "project's `REST_FRAMEWORK` defaults, where the defaults hold a class of the project that checks the "
        "tenant (its code names the tenant or the schema) and the view's list holds neither it nor a subclass "
        "of it, while the view works on a tenant app's models, in a project with one schema per tenant."
    )
    why = (
        "DRF's defaults apply only to views that name no classes of their own: a view that sets "
        "`authentication_classes = [SessionAuthentication]` or `[JWTAuthentication]`, or "
        "`permission_classes = [AllowAny]` or `[]`, runs without the tenant check the project put in the "
        "defaults. A token issued by one tenant, or a session of one tenant's user, is then accepted on another "
        "tenant's host for that view's data."
    )
    avoids = (
        "Silent for lists that still hold the tenant-aware class (or a subclass), for projects whose defaults "
        "check no tenant (nothing is dropped), for views on shared data (models of apps only in SHARED_APPS, no "
        "model at all), for public endpoints by their name (login, signup, register, token, password reset, "
        "health, webhooks, invitations), in test code."
    )
    fix_description = (
        "No automatic fix: whether the view is meant to be public is the author's call. Add the tenant-aware "
        "class to the view's list (`authentication_classes = [TenantJWTAuthentication, ...]`), or drop the "
        "list so the defaults apply."
    )
    node_types = (ast.ClassDef, ast.FunctionDef)
    triggers = ("authentication_classes", "permission_classes")
    needs_tenant_apps = True
    example_filename = "views.py"
    example_settings = SCHEMA_PER_TENANT_SETTINGS + """\
REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": ["customers.auth.TenantJWTAuthentication"]}
"""
    example_files = {"customers/auth.py": """\
from rest_framework_simplejwt.authentication import JWTAuthentication


class TenantJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        if validated_token.get("tenant_schema") != self.request_schema():
            raise ValueError("token of another tenant")
        return super().get_user(validated_token)
"""}
    invalid = (
        """\
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from orders.models import Order


class OrderList(APIView):
    authentication_classes = [SessionAuthentication]  # TL503

    def get(self, request):
        return Order.objects.values()
""",
    )
    valid = (
        """\
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from customers.auth import TenantJWTAuthentication
from orders.models import Order


class OrderList(APIView):
    authentication_classes = [TenantJWTAuthentication, SessionAuthentication]

    def get(self, request):
        return Order.objects.values()
""",
    )

    def visit(self, node, ctx) -> Iterator[Diagnostic]:
        if ctx.execution.at(node).place == TEST or _PUBLIC_NAME.search(node.name):
            return
        if isinstance(node, ast.ClassDef):
            lists = [(s.targets[0].id, s.value, s) for s in node.body if isinstance(s, ast.Assign)
                     and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name) and s.targets[0].id in _SETTINGS]
            methods = class_methods(node)
            functions = list(methods.values())
            if not lists or not (_drf_view(node, ctx) or any(
                    f.body and ctx.execution.at(f.body[0]).role == VIEW for f in functions)):
                return
        else:
            lists = [(_DECORATORS[ctx.imports.qualify(d.func)], d.args[0], d) for d in node.decorator_list
                     if isinstance(d, ast.Call) and ctx.imports.qualify(d.func) in _DECORATORS and d.args]
            methods, functions = {}, [node]
            if not lists:
                return
        model = None
        for kind, value, where in lists:
            dropped = self._dropped(kind, value, ctx)
            if dropped is None:
                continue
            if model is None:
                model = _tenant_model(node, functions, methods, ctx)
                if model is None:
                    return
            shown = ctx.segment(value) or ast.unparse(value)
            yield self.diagnostic(ctx.location(where), (
                f"{kind} = {shown} replaces the project's {_SETTINGS[kind]}, and leaves out '{dropped}', which "
                f"checks the tenant, while the view works on {model} (a model of a tenant app): a token or "
                f"session of another tenant is accepted here; add '{dropped.rpartition('.')[2]}' to the list, or "
                "drop the list"))

    @staticmethod
    def _dropped(kind: str, value: ast.expr, ctx) -> str | None:
        """The tenant-aware default class the view's list leaves out, or None (none in the defaults, the
        list holds one, or the list cannot be read)."""
        if not isinstance(value, (ast.List, ast.Tuple)):
            return None
        aware = []
        for view in ctx.governing_settings:
            defaults = view.lookup("REST_FRAMEWORK", _SETTINGS[kind])
            if isinstance(defaults, Seq):
                aware += [item.value for item in defaults.strings()
                          if names_the_tenant(item.value, ctx, item.loc.path)]
        if not aware:
            return None
        held = set()
        for element in value.elts:
            dotted = ctx.imports.qualify(element)
            if dotted is None:
                return None  # a name we cannot follow: it may be the tenant-aware class
            held |= {dotted, *ctx.project.ancestors(dotted, ctx.path)}
        missing = [name for name in aware if name not in held]
        return missing[0] if len(missing) == len(aware) else None


def _drf_view(node: ast.ClassDef, ctx) -> bool:
    """A DRF view or viewset by its bases (one with no methods of its own: a `ModelViewSet` and a queryset)."""
    for base in node.bases:
        dotted = ctx.imports.qualify(base)
        names = {dotted, *ctx.project.ancestors(dotted, ctx.path)} if dotted else set()
        if any(name.startswith("rest_framework.") for name in names):
            return True
    return False


def _tenant_model(node, functions, methods, ctx) -> str | None:
    """The first tenant model the view's code, or its `queryset`, uses."""
    for function in functions:
        model = Reach(function, ctx, methods=methods).tenant_model(ctx.tenancy)
        if model is not None:
            return model
    if isinstance(node, ast.ClassDef):
        for statement in node.body:
            if isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "queryset"
                                                         for t in statement.targets):
                for part in walk(statement.value):
                    model = tenant_model_use(part, ctx.imports, ctx.tenancy)
                    if model is not None:
                        return model
    return None
