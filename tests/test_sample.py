"""The sample project (the fix plan's CRM, before its fixes): the plan's seven problems, at the
right lines, and nothing else."""

from __future__ import annotations

from lintutil import SAMPLE, lint

PLAN_PROBLEMS = {
    # plan Issue 1: request kept on the authenticator, and the token's tenant never compared
    ("backend/authentication/jwt_authentication.py", 19, "TL101"),
    ("backend/authentication/jwt_authentication.py", 37, "TL501"),
    # plan Issue 2: the user cache key has no tenant (both cache calls that use it)
    ("backend/realtime/auth.py", 49, "TL201"),
    ("backend/realtime/auth.py", 62, "TL201"),
    # plan Issue 3: session and JWT authentication both in the defaults
    ("backend/oneo_crm/settings.py", 93, "TL301"),
    # plan Issue 4: the async middleware commented out
    ("backend/oneo_crm/settings.py", 54, "TL302"),
    ("backend/oneo_crm/settings.py", 55, "TL302"),
    ("backend/oneo_crm/settings.py", 56, "TL302"),
    # plan Issue 5: the serializer writes the request user unchecked
    ("backend/api/serializers.py", 50, "TL401"),
    # plan Issue 6: the websocket token's tenant never compared
    ("backend/realtime/auth.py", 34, "TL501"),
    # plan Issue 7: the signal receiver logs instance.updated_by unchecked
    ("backend/pipelines/signals.py", 37, "TL402"),
}


def found(select=None):
    diagnostics, errors = lint(SAMPLE, select=select, root=SAMPLE)
    assert errors == []
    return {(d.path.split("sample/", 1)[1], d.line, d.code) for d in diagnostics}


def test_sample_reports_exactly_the_plans_seven_problems():
    assert found() == PLAN_PROBLEMS
    assert {code for _, _, code in PLAN_PROBLEMS} == {"TL101", "TL201", "TL301", "TL302", "TL401", "TL402", "TL501"}


def test_opt_in_rules_find_nothing_more_in_the_sample():
    assert found(select=["ALL"]) == PLAN_PROBLEMS
