"""TL501 unchecked-token-tenant: a user resolved from a decoded token whose tenant claim was never checked."""

from __future__ import annotations

import ast
import os
import re
from typing import Iterator

from tenantlint.diagnostics import Applicability, Diagnostic, Severity
from tenantlint.model.execution import CONSUMER
from tenantlint.model.tenancy import ROW
from tenantlint.rules.base import Rule, register
from tenantlint.rules.tokens.token_checks import ACTIVE_PARAMETERS, PlannedFix, TenantCheck, plan_check
from tenantlint.rules.tokens.token_function import TokenFunction
from tenantlint.rules.tokens.token_sources import READING_TRIGGERS, decode_hints, function_text, might_read_tokens


@register
class UncheckedTokenTenant(Rule):
    code = "TL501"
    name = "unchecked-token-tenant"
    summary = "a user resolved from a decoded token without comparing the token's tenant claim to the active tenant"
    what = (
        "A user looked up (`User.objects.get(id=token['user_id'])`, `get_user_model().objects.filter(pk=...)`, "
        "`aget`, `get_object_or_404(User, ...)`, `sync_to_async(User.objects.get)(...)`, or a helper such as "
        "`await get_user_by_id(user_id)`) from a decoded token: simplejwt's `AccessToken`, `RefreshToken`, "
        "`UntypedToken`, `SlidingToken` (or a project subclass), `get_validated_token(...)`, the token "
        "parameter of a `get_user` override in an authenticator class, PyJWT's or python-jose's "
        "`jwt.decode(...)` — when no comparison of the token's tenant claim (`token['tenant_schema']`, "
        "`token.get('tenant_schema')`) to the active tenant (`connection.schema_name`, `request.tenant`, a "
        "`tenant_schema`/`current_schema` parameter or local) holds on every path to the lookup."
    )
    why = (
        "django-tenants picks the tenant from the host; simplejwt signs tokens with one key for all tenants. "
        "A token issued on tenant A's site is therefore valid on tenant B's site, and the user id it carries "
        "is looked up in B's schema: it names whichever of B's users has that id. Only a comparison of the "
        "claim the token was issued with to the tenant serving the request stops it."
    )
    avoids = (
        "Silent when the comparison holds on every path to the lookup (an enclosing `if`, an earlier "
        "`if mismatch: raise/return`, an `assert`, a check inside `try` whose handlers all exit, a project "
        "helper or class hook that compares the claim — `get_validated_token`/`authenticate` overrides, a "
        "token class named in `SIMPLE_JWT['AUTH_TOKEN_CLASSES']` — or a check right after the lookup before "
        "the user is returned), or when the looked-up user's tenant is compared to the active one "
        "(`user.tenant_id != request.tenant.id`); for decodes with no user lookup; for simplejwt's own classes; "
        "and everywhere when a user is not bound to one tenant: a project middleware setting the request's "
        "tenant from its user (`request.tenant = request.user.tenant`), `tenant-from-user` or `tenancy = "
        "\"user\"` declared, no tenancy at all, or row-level tenancy whose user model (`AUTH_USER_MODEL`) has "
        "no foreign key to the tenant (global users joining tenants through memberships). A check that lets tokens "
        "without the claim through still counts here: TL502 reports it. Helpers are followed one call deep: "
        "a project function whose body looks a user up from its parameters, or whose name reads as a lookup "
        "(`get_user_by_id`, `fetch_user`)."
    )
    fix_description = (
        "Inserts the plan's tenant-claim check (Issues 1 and 6) right before the statement that looks the user "
        "up, in the block where the token is decoded (the method's body for `get_user`'s token), failing "
        "closed: `token_tenant_schema = validated_token.get('tenant_schema')`, "
        "`current_schema = getattr(connection, 'schema_name', None)` (adding `from django.db import "
        "connection`), then `if token_tenant_schema != current_schema:` and the function's own way to refuse: "
        "`raise InvalidToken(\"Token not valid for current tenant\")` in a simplejwt authenticator "
        "(`AuthenticationFailed` in another DRF authenticator), a warning to the module's logger and "
        "`return None` where the function already returns None for bad tokens, else the token error the "
        "function already raises, or `django.core.exceptions.PermissionDenied`; missing imports are added. "
        "The active schema is what the function already has when it clearly is one (a `tenant_schema` "
        "parameter, as in the plan's WebSocket function, or a local set from `connection.schema_name`). "
        "A token without the claim is refused wherever there is an active schema, the public one included "
        "(there only a token claiming `public` passes). Where there is none (no django-tenants: "
        "`schema_name` is missing and `current_schema` is None) a token without the claim still passes "
        "and a token with one is refused. Unsafe: tokens issued before the claim was "
        "added, and tokens of other tenants, are now refused. No fix where the token is never bound to a "
        "name (`AccessToken(raw)['user_id']` inline), is bound in a branch the lookup does not always pass "
        "through, or where the statement holding the lookup shares its line, or the names the check needs "
        "mean something else. No fix with row-level tenancy: there is no schema to compare with, and how a user "
        "is tied to the tenant (a foreign key, a membership) is the project's own. No fix where the "
        "connection carries no tenant: in async code (the event loop's connection), in a function Channels' "
        "`database_sync_to_async` runs, and in a consumer (consumers never run Django middleware): a check "
        "against `connection.schema_name` there would refuse every valid token; the claim has to be compared "
        "with the tenant of the request or the consumer's scope, unless the function is handed the schema "
        "(a `schema_name` parameter). asgiref's `sync_to_async` runs in the thread the tenant middleware ran "
        "in, so code it runs is fixed. No fix either when the project issues tokens (`for_user`, a "
        "`get_token` override, `jwt.encode`) and no code of it names the claim: its tokens do not carry it, "
        "and the check would refuse them all."
    )
    fix_safety = "unsafe"
    options = ("tenant-claim", "tenant-from-user", "authenticator-bases")
    severity = Severity.ERROR
    node_types = (ast.FunctionDef, ast.AsyncFunctionDef)
    triggers = READING_TRIGGERS
    requires = ("oken|jwt|JWT|payload|claim",)  # a decoded token is named so somewhere in its module
    example_filename = "auth.py"
    invalid = (
        """\
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.authentication import JWTAuthentication

User = get_user_model()


class TenantJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        return User.objects.get(id=validated_token["user_id"])  # TL501
""",
        """\
import jwt
from django.contrib.auth import get_user_model


def user_from_bearer(raw, key):
    payload = jwt.decode(raw, key, algorithms=["HS256"])
    return get_user_model().objects.filter(pk=payload["user_id"]).first()  # TL501
""",
    )
    valid = (
        """\
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

User = get_user_model()


class TenantJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        if validated_token.get("tenant_schema") != connection.schema_name:
            raise InvalidToken("Token not valid for current tenant")
        return User.objects.get(id=validated_token["user_id"])
""",
    )

    def __init__(self, options):
        super().__init__(options)
        self._hints: tuple[ast.Module | None, tuple[str, ...]] = (None, ())  # per file: (tree, decode_hints)
        self._issuers: dict[tuple[int, str], str | None] = {}  # per project text and claim

    def visit(self, node, ctx) -> Iterator[Diagnostic]:
        if ctx.options.tenant_from_user or not ctx.tenancy.users_per_tenant:
            return  # a user may act on every tenant, or chooses it: a token of another tenant names no other user
        owner = ctx.parents[-1] if ctx.parents and isinstance(ctx.parents[-1], ast.ClassDef) else None
        if self._hints[0] is not ctx.tree:
            self._hints = (ctx.tree, decode_hints(ctx.imports.bindings))
        if not might_read_tokens(node, owner, ctx.imports.bindings, function_text(ctx, node), self._hints[1]):
            return
        reading = TokenFunction(node, ctx, ctx.module, owner)
        if not reading.has_sources:
            return
        claim = ctx.options.tenant_claim
        rows = ctx.tenancy.kind == ROW  # no schema to compare a claim with: no fix, and the user's tenant counts
        placed: list = []  # checks planned in this function, which may guard its later lookups too
        no_schema = _where_no_schema(node, ctx)
        for lookup in reading.lookups:
            if not reading.is_guarded(lookup):
                # read the project's text only for a finding that could get a check
                unclaimed = None if rows or no_schema else self._issuer_without_claim(ctx, claim)
                planned = None if rows or no_schema or unclaimed else plan_check(reading, lookup, ctx.lines, placed)
                if planned is not None and planned not in placed:
                    placed.append(planned)
                fix = PlannedFix(Applicability(self.fix_safety), f"Reject the token unless its '{claim}' claim is "
                                 "the active tenant, before the lookup", plan=planned[1]) if planned else None
                message = (f"user resolved from a decoded token without comparing the user's tenant (or the "
                           f"token's '{claim}' claim) to the active tenant: a user of tenant A is accepted on "
                           "tenant B's host") if rows else (
                    f"user resolved from a decoded token without comparing its '{claim}' claim to the active "
                    "tenant: a token issued in tenant A is accepted on tenant B's host")
                if no_schema and not rows:
                    message += (f"; no fix offered: this code runs {no_schema}, where the connection's schema is not "
                                "the tenant being served (no tenant middleware set it): compare the claim with the "
                                "tenant of the request or the consumer's scope")
                if unclaimed:
                    message += (f"; no fix offered: the project issues tokens ({unclaimed}) but no code of it names a "
                                f"'{claim}' claim, so a check would refuse every token: add the claim where tokens "
                                "are issued, or set tenant-claim to the one they carry")
                yield self.diagnostic(ctx.location(lookup), message, fix=fix)

    def _issuer_without_claim(self, ctx, claim: str) -> str | None:
        """A project file that issues tokens, when no project file names the claim (so none carries it);
        None when the claim is named somewhere or no issuing code is in view (tokens issued by a library
        view or another service: the claim may well be there)."""
        text = ctx.project_text
        key = (id(text), claim)
        if key not in self._issuers:
            issuers = [path for path in text.python_files if _ISSUES_TOKENS.search(text.text(path))]
            named = bool(issuers) and bool(text.files_naming(claim))
            self._issuers[key] = None if not issuers or named else os.path.relpath(issuers[0], os.path.dirname(ctx.path))
        return self._issuers[key]

    def apply_fixes(self, module, diagnostics: list[Diagnostic], context):
        from tenantlint.rules.tokens.token_fix import insert_checks

        checks = [d.fix.plan for d in diagnostics if isinstance(d.fix, PlannedFix)]
        if len(checks) != len(diagnostics) or not all(isinstance(c, TenantCheck) for c in checks):
            raise ValueError("a TL501 finding without its planned check")
        return insert_checks(module, list(dict.fromkeys(checks)))


_CHANNELS_SYNC_TO_ASYNC = "channels.db.database_sync_to_async"
# code that issues tokens: simplejwt's `for_user`, a `get_token` override of a token serializer, PyJWT/jose
_ISSUES_TOKENS = re.compile(r"\.for_user\(|def get_token\(|\bjwt\.encode\(")


def _where_no_schema(function: ast.AST, ctx) -> str | None:
    """Where `function` runs if the connection there carries no tenant: on an event loop, in the thread
    Channels' `database_sync_to_async` hands it to, or for a consumer (consumers never run Django
    middleware); None in request code (asgiref's `sync_to_async` runs in the thread the tenant middleware
    ran in), or when the function is handed the active schema (`schema_name` parameter)."""
    names = {a.arg for a in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]}
    if names & ACTIVE_PARAMETERS:
        return None
    where = ctx.execution.at(function.body[0])  # a node inside: `at(function)` is where it is defined
    if where.runs_async:
        return "on an event loop"
    channels_thread = any(ctx.imports.qualify(d.func if isinstance(d, ast.Call) else d) == _CHANNELS_SYNC_TO_ASYNC
                          for d in getattr(function, "decorator_list", ()))
    if where.in_worker_thread and channels_thread:  # asgiref's sync_to_async runs where the middleware ran
        return "in the thread Channels' database_sync_to_async hands it to"
    if where.role == CONSUMER:
        return "for a Channels consumer"
    return None
