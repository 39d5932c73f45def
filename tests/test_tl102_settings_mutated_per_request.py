"""Exact findings of TL102 settings-mutated-per-request: writes on the process's settings objects from request
and task code, and the writes made once for the process or in code of unknown context."""

from __future__ import annotations

from lintutil import CASES, lint

PROJECT = CASES / "TL102" / "project"


def _message(written: str, where: str, owner: str, unit: str = "request") -> str:
    return (f"`{written}` is written in {where}, for one {unit}: {owner} is one object for the whole process, so the "
            f"other tenants' {unit}s run meanwhile, and every later one, read this value; keep the per-tenant value "
            "on the request or the tenant, or pass it to the call that needs it")


def test_writes_on_process_settings_per_request_or_task():
    diagnostics, errors = lint(PROJECT, select=["TL102"], root=PROJECT)
    assert errors == []
    settings = "django.conf.settings"
    assert [(d.path.rpartition("/")[2], d.line, d.col, d.message) for d in diagnostics] == [
        ("middleware.py", 10, 8, _message("settings.EMAIL_HOST_PASSWORD", "a middleware", settings)),
        ("middleware.py", 11, 8, _message('settings.SIMPLE_JWT["SIGNING_KEY"]', "a middleware", settings)),
        ("middleware.py", 12, 8, _message("token_backend.signing_key", "a middleware", "simplejwt's token backend")),
        ("views.py", 10, 8, _message("setattr(settings, ...)", "a view", settings)),
        ("views.py", 16, 8, _message("api_settings.SIGNING_KEY", "an authenticator", "simplejwt's api_settings")),
        ("views.py", 22, 4, _message("settings.EMAIL_HOST_PASSWORD", "a task", settings, "task")),
    ]
