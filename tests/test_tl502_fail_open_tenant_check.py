"""Exact findings of TL502 fail-open-tenant-check, its opt-in and its options."""

from __future__ import annotations

import textwrap

from lintutil import CASES, SAMPLE, lint, with_options

from tenantlint.diagnostics import Severity
from tenantlint.rules.tokens.tl502_fail_open_tenant_check import FailOpenTenantCheck

SKIPPED = (
    "tenant check skipped when the token has no 'tenant_schema' claim: a token minted without it "
    "(or by another service) passes on every tenant; fail closed"
)


def found(path, select=("TL502",), **kwargs):
    diagnostics, errors = lint(path, select=list(select) if select else None, **kwargs)
    assert errors == []
    return [(d.code, d.line, d.col, d.message, d.severity) for d in diagnostics]


def test_the_plans_own_patches_fail_open():
    assert found(CASES / "TL502" / "plan_fixes.py") == [
        ("TL502", 28, 15, SKIPPED, Severity.WARNING),  # Issue 1: get_user
        ("TL502", 65, 11, SKIPPED, Severity.WARNING),  # Issue 6: authenticate_websocket_jwt
    ]


def test_swallowed_key_error_names_the_handler():
    results = {r[1]: r for r in found(CASES / "TL502" / "fail_open_shapes.py")}
    assert results[71][2:] == (
        15,
        "tenant check skipped when the token has no 'tenant_schema' claim: the error raised reading it is "
        "swallowed by the `except` on line 73, and the token passes on every tenant; fail closed",
        Severity.WARNING,
    )


def test_off_by_default_and_enabled_by_extend_select():
    path = CASES / "TL502" / "plan_fixes.py"
    assert not FailOpenTenantCheck.default_enabled
    assert [r for r in found(path, select=None) if r[0] == "TL502"] == []
    assert [r[:2] for r in found(path, select=None, extend_select=["TL502"]) if r[0] == "TL502"] == [
        ("TL502", 28), ("TL502", 65)]


def test_tenant_from_user_silences_the_rule():
    assert found(CASES / "TL502" / "plan_fixes.py", options=with_options(tenant_from_user=True)) == []


def test_tenant_claim_option(tmp_path):
    path = tmp_path / "auth.py"
    path.write_text(textwrap.dedent("""\
        from django.db import connection
        from rest_framework_simplejwt.tokens import AccessToken


        def check(raw):
            token = AccessToken(raw)
            if token.get("org") and token.get("org") != connection.schema_name:
                raise ValueError("wrong tenant")
            return token
    """), encoding="utf-8")
    assert found(path) == []
    assert found(path, options=with_options(tenant_claim="org")) == [(
        "TL502", 7, 7,
        "tenant check skipped when the token has no 'org' claim: a token minted without it "
        "(or by another service) passes on every tenant; fail closed",
        Severity.WARNING,
    )]


def test_sample_has_no_tenant_check_to_judge():
    assert found(SAMPLE) == []


# -- the fix -------------------------------------------------------------------------------

FIX_MESSAGE = "Fail closed: treat a token without the 'tenant_schema' claim as one for another tenant"


def fixes(path):
    diagnostics, errors = lint(path, select=["TL502"])
    assert errors == []
    return {d.line: d.fix for d in diagnostics}


def test_fix_is_unsafe_and_says_what_it_does():
    found_fixes = fixes(CASES / "TL502" / "plan_fixes.py")
    assert [(f.applicability.value, f.message, f.edits) for f in found_fixes.values()] == [
        ("unsafe", FIX_MESSAGE, ())] * 2
    assert FailOpenTenantCheck.fix_safety == "unsafe"


def test_no_fix_for_shapes_the_test_cannot_express():
    found_fixes = fixes(CASES / "TL502" / "fail_open_shapes.py")
    unfixed = {line for line, fix in found_fixes.items() if fix is None}
    # `claim = token.get(...) or current`, the two swallowed KeyErrors, and the check nested in
    # `if token_tenant is not None:`
    assert unfixed == {49, 71, 82, 107}
