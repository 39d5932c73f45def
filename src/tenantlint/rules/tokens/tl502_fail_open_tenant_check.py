"""TL502 fail-open-tenant-check: a tenant-claim check that a token without the claim skips."""

from __future__ import annotations

import ast
from typing import Iterator

from tenantlint.diagnostics import Applicability, Diagnostic, Severity
from tenantlint.rules.base import Rule, register
from tenantlint.rules.tokens.token_checks import FailClosed, PlannedFix, plan_fail_closed
from tenantlint.rules.tokens.token_function import TokenFunction
from tenantlint.rules.tokens.token_sources import TRIGGERS, function_text, mentions_claim, module_string_constants


@register
class FailOpenTenantCheck(Rule):
    code = "TL502"
    name = "fail-open-tenant-check"
    summary = "a tenant-claim check that lets a token without the claim through"
    what = (
        "An `if`, `while` or `assert` test (or a helper's returned predicate) comparing a token's tenant claim "
        "to the active tenant that a token lacking the claim gets past as if its claim matched: "
        "`if token_tenant_schema and current_schema and token_tenant_schema != current_schema: raise ...` "
        "(the fix plan's own patch), `if claim is not None and claim != schema`, "
        "`if 'tenant_schema' in token and ...`, `if not claim or claim == schema: <accept>`, a claim read as "
        "`token.get('tenant_schema', connection.schema_name)`, or `token['tenant_schema']` inside a `try` "
        "whose `except KeyError` (or broader) carries on."
    )
    why = (
        "Tokens without the claim exist: tokens minted before the claim was added, by `RefreshToken.for_user` "
        "in a management command, by another service sharing the signing key. A check that is skipped for "
        "them accepts such a token on every tenant's host, which is the cross-tenant login the check was "
        "written to stop. Failing closed costs nothing for tokens that carry the claim."
    )
    avoids = (
        "Fail-closed checks are silent: `if claim != schema: raise`, `if not claim or claim != schema: raise`, "
        "`token['tenant_schema']` read where a missing claim raises and nothing swallows it. Only the claim "
        "side is judged: a check skipped when there is no active tenant (`current_schema and ...`) is not "
        "reported, since without tenant middleware there is no host tenant for a claim to disagree with. "
        "An empty claim read by subscript is not reported either: only the signer can put it there. "
        "Silent when `tenant-from-user` is set. Off by default; enable with `--extend-select TL502`."
    )
    fix_description = (
        "Rewrites the test so that a token without the claim counts as one for another tenant: the operands "
        "that let it by (`token_tenant_schema`, `claim is not None`, `'tenant_schema' in token`, a walrus "
        "reading the claim) are negated and joined to the comparison, so the plan's "
        "`if token_tenant_schema and current_schema and token_tenant_schema != current_schema:` becomes "
        "`if current_schema and (not token_tenant_schema or token_tenant_schema != current_schema):`, and an "
        "accepting `if not claim or claim == schema:` becomes `if claim and claim == schema:` (a helper's "
        "returned predicate `bool(claim) and claim == schema`, so it stays a bool); a claim read "
        "as `token.get('tenant_schema', connection.schema_name)` loses its default. Operands that say nothing "
        "about the claim (`current_schema`: is there an active tenant?) are kept, first, as TL502 does not "
        "judge them. Unsafe: tokens minted without the claim are refused from then on. No fix where the "
        "claim is swallowed by an `except`, falls back to the active tenant through a local "
        "(`claim = token.get(...) or current`), or the check sits inside `if claim is not None:`."
    )
    fix_safety = "unsafe"
    options = ("tenant-claim", "tenant-from-user")
    severity = Severity.WARNING
    default_enabled = False
    node_types = (ast.FunctionDef, ast.AsyncFunctionDef)
    triggers = TRIGGERS
    example_filename = "auth.py"
    invalid = (
        """\
from django.db import connection
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken


class TenantJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        token_tenant_schema = validated_token.get("tenant_schema")
        current_schema = connection.schema_name
        if token_tenant_schema and current_schema and token_tenant_schema != current_schema:  # TL502
            raise InvalidToken("Token not valid for current tenant")
        return super().get_user(validated_token)
""",
    )
    valid = (
        """\
from django.db import connection
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken


class TenantJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        token_tenant_schema = validated_token.get("tenant_schema")
        if not token_tenant_schema or token_tenant_schema != connection.schema_name:
            raise InvalidToken("Token not valid for current tenant")
        return super().get_user(validated_token)
""",
    )

    def visit(self, node, ctx) -> Iterator[Diagnostic]:
        if ctx.options.tenant_from_user:
            return
        claim = ctx.options.tenant_claim
        text = function_text(ctx, node)
        if claim not in text and "claim" not in text.lower():
            return
        if not mentions_claim(node, claim, module_string_constants(ctx.module.tree)):
            return
        owner = ctx.parents[-1] if ctx.parents and isinstance(ctx.parents[-1], ast.ClassDef) else None
        reading = TokenFunction(node, ctx, ctx.module, owner)
        if not reading.has_sources:
            # A helper or a token class hook: its token arrives as a parameter or as `self`.
            reading = TokenFunction(node, ctx, ctx.module, owner, depth=1, token_self=reading.owner_is_token)
        for check, test in reading.tenant_checks():
            verdict = reading.fail_open(check, test)
            if verdict is None:
                continue
            how, handler = verdict
            plan = plan_fail_closed(reading, check, test, ctx.lines) if how == "skipped" else None
            fix = PlannedFix(Applicability(self.fix_safety), f"Fail closed: treat a token without the '{claim}' "
                             "claim as one for another tenant", plan=plan) if plan else None
            if how == "swallowed":
                message = (
                    f"tenant check skipped when the token has no '{claim}' claim: the error raised reading it is "
                    f"swallowed by the `except` on line {handler.lineno}, and the token passes on every tenant; "
                    "fail closed"
                )
            else:
                message = (
                    f"tenant check skipped when the token has no '{claim}' claim: a token minted without it "
                    "(or by another service) passes on every tenant; fail closed"
                )
            yield self.diagnostic(ctx.location(test), message, fix=fix)

    def apply_fixes(self, module, diagnostics: list[Diagnostic], context):
        from tenantlint.rules.tokens.token_fix import fail_closed

        plans = [d.fix.plan for d in diagnostics if isinstance(d.fix, PlannedFix)]
        if len(plans) != len(diagnostics) or not all(isinstance(p, FailClosed) for p in plans):
            raise ValueError("a TL502 finding without its planned rewrite")
        return fail_closed(module, list(dict.fromkeys(plans)))
