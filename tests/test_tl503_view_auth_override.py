"""Exact findings of TL503 view-auth-override."""

from __future__ import annotations

from lintutil import CASES, lint

PROJECT = CASES / "TL503" / "project"
AUTHENTICATION = ("DEFAULT_AUTHENTICATION_CLASSES", "customers.auth.TenantJWTAuthentication", "TenantJWTAuthentication")
PERMISSION = ("DEFAULT_PERMISSION_CLASSES", "customers.permissions.IsTenantMember", "IsTenantMember")


def _message(kind: str, value: str, default: tuple[str, str, str]) -> str:
    setting, dotted, name = default
    return (f"{kind} = {value} replaces the project's {setting}, and leaves out '{dotted}', which checks the tenant, "
            "while the view works on `Currency` (a model of a tenant app): a token or session of another tenant is "
            f"accepted here; add '{name}' to the list, or drop the list")


def test_lists_that_leave_out_the_tenant_aware_defaults():
    diagnostics, errors = lint(PROJECT, select=["TL503"], root=PROJECT)
    assert errors == []
    assert [(d.line, d.col, d.message) for d in diagnostics] == [
        (15, 4, _message("authentication_classes", "[SessionAuthentication]", AUTHENTICATION)),
        (23, 4, _message("permission_classes", "[AllowAny]", PERMISSION)),  # a viewset's queryset
        (27, 1, _message("authentication_classes", "[JWTAuthentication]", AUTHENTICATION)),  # decorators
        (28, 1, _message("permission_classes", "[IsAuthenticated]", PERMISSION)),
    ]
