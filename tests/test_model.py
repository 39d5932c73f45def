"""The project model: settings found as Django finds them, the same from any path; tenancy; test code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lintutil import CASES, FIXTURES, SAMPLE, lint, with_options
from test_cli import run
from tenantlint.config import ConfigError, config_from_table

PROJECTS = FIXTURES / "projects"
MULTI_FILE = [SAMPLE, *sorted(p for p in PROJECTS.iterdir() if p.is_dir()),
              *sorted(p for code in CASES.iterdir() for p in code.iterdir() if p.is_dir())]


def _found(diagnostics, base: Path) -> set[tuple[str, int, int, str, str]]:
    return {(os.path.relpath(d.path, base), d.line, d.col, d.code, d.message) for d in diagnostics}


@pytest.mark.parametrize("project", MULTI_FILE, ids=lambda p: os.path.relpath(p, FIXTURES))
def test_every_file_alone_gets_the_findings_of_the_full_run(project):
    full, errors = lint(project, root=project)
    assert errors == []
    everything = _found(full, project)
    for file in sorted(project.rglob("*.py")):
        alone, errors = lint(file, root=file.parent)
        assert errors == []
        relative = os.path.relpath(file, project)
        assert _found(alone, project) == {f for f in everything if f[0] == relative}, relative


def test_settings_package_named_by_manage_py_is_read():
    diagnostics, _ = lint(PROJECTS / "config_package", root=PROJECTS / "config_package")
    assert sorted((os.path.relpath(d.path, PROJECTS / "config_package"), d.line, d.code) for d in diagnostics) == [
        ("app/views.py", 5, "TL201"), ("myproject/config/base.py", 3, "TL202"), ("myproject/config/base.py", 6, "TL303")]


def test_django_configurations_class_named_by_manage_py_is_read():
    diagnostics, _ = lint(PROJECTS / "configurations_hub", root=PROJECTS / "configurations_hub")
    assert [(d.line, d.col, d.code) for d in diagnostics] == [(10, 12, "TL301")]


def test_project_command_says_what_was_inferred_and_from_where():
    result = run("project", "--output-format", "json", str(PROJECTS / "config_package"))
    assert result.exit_code == 0
    model = json.loads(result.output)
    ours = [d for d in model["declared_settings"] if d["file"].endswith("config_package/manage.py")]
    assert [(d["module"], d["line"], os.path.basename(d["resolves_to"])) for d in ours] == [
        ("myproject.config", 3, "__init__.py")]
    [project] = model["projects"]
    assert project["source_tree"].endswith("projects/config_package")
    assert project["tenancy"]["kind"] == "schema"
    assert [(e["what"], os.path.basename(e["file"]), e["line"]) for e in project["tenancy"]["evidence"]] == [
        ("django_tenants in INSTALLED_APPS", "base.py", 1), ("TENANT_MODEL = 'app.Client'", "base.py", 2)]
    assert project["tenancy"]["tenant_model"] == "app.Client"
    assert [(m["entry"], m["position"]) for m in project["tenant_middleware"]] == [
        ("django_tenants.middleware.main.TenantMainMiddleware", 2)]
    text = run("project", str(PROJECTS / "config_package")).output
    assert "  tenancy: schema\n    because django_tenants in INSTALLED_APPS  at " in text
    assert "  tenant model: app.Client\n" in text


def test_row_level_tenancy_is_found_from_foreign_keys():
    result = run("project", "--output-format", "json", str(CASES / "TL201" / "row_project"))
    [project] = json.loads(result.output)["projects"]
    assert project["tenancy"]["kind"] == "row"
    assert project["tenancy"]["tenant_model"] == "Company"
    assert project["tenancy"]["evidence"][0]["what"] == "2 foreign keys to a model named Company"


@pytest.mark.parametrize(("case", "users_per_tenant", "from_user"), [
    ("row_users_per_tenant", True, None),
    ("noerror_row_global_users", False, None),
    ("noerror_row_tenant_from_user", False, ("request.company = request.user.company", "middleware.py", 7)),
    ("schema_shared_users", True, None),
    ("noerror_schema_tenant_from_user_helper", False,
     ("request.tenant = user.profile.country", "tenancy.py", 5)),
])
def test_whether_users_are_bound_to_one_tenant(case, users_per_tenant, from_user):
    result = run("project", "--output-format", "json", str(CASES / "TL501" / case))
    [project] = json.loads(result.output)["projects"]
    tenancy = project["tenancy"]
    assert tenancy["users_per_tenant"] is users_per_tenant
    assert tenancy["user_model"] == ("User" if case in ("noerror_row_global_users",
                                                        "noerror_schema_tenant_from_user_helper") else "Member")
    found = tenancy["tenant_from_user"]
    assert (found and (found["what"], os.path.basename(found["file"]), found["line"])) == from_user


def test_test_code_is_skipped_unless_included():
    project = CASES / "TL201" / "schema_project"
    skipped, _ = lint(project, select=["TL201"], root=project)
    assert not any("shop/tests" in d.path for d in skipped)
    included, _ = lint(project, select=["TL201"], root=project, options=with_options(include_tests=True))
    assert sorted(d.line for d in included if "shop/tests" in d.path) == [6, 7]


def test_declared_tenancy_wins_over_inference():
    project = CASES / "TL201" / "schema_project"
    declared, _ = lint(project, select=["TL201"], root=project, options=with_options(tenancy="row"))
    # ids are global: the constant keys over models remain (with no tenant model named, any model counts)
    assert sorted(d.line for d in declared) == [15, 18, 50, 53]


def test_tenancy_must_be_a_known_kind():
    with pytest.raises(ConfigError, match="'tenancy' must be one of schema, row, user, none"):
        config_from_table({"tenancy": "schemas"}, "pyproject.toml")
