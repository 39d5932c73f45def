"""The sample project (the fix plan's CRM, before its fixes): the plan's seven problems, at the
right lines, and the one the plan did not name."""

from __future__ import annotations

from lintutil import SAMPLE, lint

PLAN_PROBLEMS = {
    # plan Issue 1: request kept on the authenticator, and the token's tenant never compared
    ("backend/authentication/jwt_authentication.py", 19, "TL101"),
    ("backend/authentication/jwt_authentication.py", 37, "TL501"),
    # plan Issue 2: the user cache key has no tenant (where it is built; both cache calls use it)
    ("backend/realtime/auth.py", 48, "TL201"),
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


# beyond the plan: the shared Redis alias the plan's key uses has no tenant KEY_FUNCTION
BEYOND_THE_PLAN = {("backend/oneo_crm/settings.py", 115, "TL202")}


def found(select=None):
    diagnostics, errors = lint(SAMPLE, select=select, root=SAMPLE)
    assert errors == []
    return {(d.path.split("sample/", 1)[1], d.line, d.code) for d in diagnostics}


def test_sample_reports_exactly_the_plans_seven_problems():
    assert found() == PLAN_PROBLEMS | BEYOND_THE_PLAN
    assert {code for _, _, code in PLAN_PROBLEMS} == {"TL101", "TL201", "TL301", "TL302", "TL401", "TL402", "TL501"}


def test_opt_in_rules_find_nothing_more_in_the_sample():
    assert found(select=["ALL"]) == PLAN_PROBLEMS | BEYOND_THE_PLAN


def test_fixing_the_sample_gives_the_plans_patches_in_substance(tmp_path):
    import ast
    import shutil

    from test_cli import run

    project = tmp_path / "sample"
    shutil.copytree(SAMPLE, project)
    result = run("check", "--fix", "--unsafe-fixes", "--no-cache", "--output-format", "concise", str(project))
    # plan Issue 2's key is built in async code, where the connection's schema is the event loop thread's
    # ('public' for every tenant): the plan's own fix would not scope it, so none is offered
    assert result.exit_code == 1
    assert [line.split(":")[0] + " " + line.split(" ", 2)[1] for line in result.output.splitlines()] == [
        f"{project}/backend/realtime/auth.py TL201"] * 2
    # the alias gains the tenant KEY_FUNCTION (TL202), which reads the same event loop connection there
    assert all("runs in async code" in line and line.endswith("no fix offered") for line in result.output.splitlines())
    backend = project / "backend"
    texts = {path.relative_to(backend).as_posix(): path.read_text() for path in backend.rglob("*.py")}
    for text in texts.values():
        ast.parse(text)
    jwt = texts["authentication/jwt_authentication.py"]
    assert "self._current_request" not in jwt  # plan Issue 1: no request on the authenticator
    assert "getattr(connection, 'tenant', None)" in jwt and "from django.db import connection" in jwt
    assert 'if token_tenant_schema != current_schema:\n            raise InvalidToken("Token not valid for current tenant")' in jwt
    realtime = texts["realtime/auth.py"]
    assert 'cache_key = f"user:{user_id}"' in realtime  # plan Issue 2: reported, not fixed (async code)
    assert "if token_tenant_schema != tenant_schema:" in realtime and "return None" in realtime  # plan Issue 6
    settings = texts["oneo_crm/settings.py"]
    assert "    'default': {\n        'KEY_FUNCTION': 'django_tenants.cache.make_key',\n" in settings  # TL202
    assert "    'rest_framework.authentication.SessionAuthentication'," not in settings  # plan Issue 3
    for name in ("AsyncSessionAuthenticationMiddleware", "AsyncTenantMiddleware", "AsyncPermissionMiddleware"):
        assert f"    'authentication.middleware.{name}',  # ❌ Disabled" in settings  # plan Issue 4
    serializers = texts["api/serializers.py"]
    assert ("request = self.context.get('request')\n        if not request or not getattr(request, 'user', None) or not "
            "request.user.is_authenticated:\n            raise serializers.ValidationError(\"Invalid user context\")") in serializers
    assert "validated_data['updated_by'] = request.user" in serializers  # plan Issue 5
    signals = texts["pipelines/signals.py"]
    # Issue 7, guarding the audit entry only: the plan's early return would also skip the receiver's cleanup
    assert ("            if instance.updated_by and instance.updated_by.is_authenticated:\n"
            "                AuditLog.objects.create(") in signals
    assert "        del instance._original_data\n" in signals
    again = run("check", "--fix", "--unsafe-fixes", "--no-cache", str(project))
    assert again.exit_code == 1 and "Found 2 problems." in again.output  # each sync call on the event loop
    assert {path.relative_to(backend).as_posix(): path.read_text() for path in backend.rglob("*.py")} == texts
    assert run("check", "--no-cache", "--ignore", "TL201", str(project)).exit_code == 0


def test_a_fix_run_reports_the_same_whatever_worker_fixes_which_file(tmp_path):
    """The settings fix (TL202's KEY_FUNCTION) changes what auth.py's findings say: every file is judged
    against the project as the pass found it, and auth.py is judged again once the settings are written,
    in one process or spread over workers in any order."""
    import shutil

    from test_cli import run

    outputs, trees = [], []
    for jobs in ("1", "4"):
        project = tmp_path / f"jobs{jobs}"
        shutil.copytree(SAMPLE, project)
        result = run("check", "--fix", "--unsafe-fixes", "--no-cache", "--jobs", jobs, "--output-format", "concise",
                     str(project))
        outputs.append(result.output.replace(str(project), "<project>"))
        trees.append({path.relative_to(project).as_posix(): path.read_text() for path in project.rglob("*.py")})
    assert outputs[0] == outputs[1]
    assert trees[0] == trees[1]
    assert [line.split(" ")[1] for line in outputs[0].splitlines()] == ["TL201", "TL201"]
