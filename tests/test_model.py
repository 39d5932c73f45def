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


@pytest.mark.parametrize(("case", "users_per_tenant", "from_user", "user_model", "ids_repeat"), [
    ("row_users_per_tenant", True, None, "accounts.Member", False),
    ("noerror_row_global_users", False, None, "accounts.User", False),
    ("noerror_row_tenant_from_user", False, ("request.company = request.user.company", "middleware.py", 7),
     "accounts.Member", False),
    # schemas, with the user model's app shared only: one user table in public
    ("schema_shared_users", True, None, "accounts.Member", False),
    # schemas, with Django's auth in neither list: judged per tenant
    ("noerror_schema_tenant_from_user_helper", False, ("request.tenant = user.profile.country", "tenancy.py", 5),
     "auth.User", True),
])
def test_whether_users_are_bound_to_one_tenant(case, users_per_tenant, from_user, user_model, ids_repeat):
    result = run("project", "--output-format", "json", str(CASES / "TL501" / case))
    [project] = json.loads(result.output)["projects"]
    tenancy = project["tenancy"]
    assert tenancy["users_per_tenant"] is users_per_tenant
    assert tenancy["user_model"] == user_model
    assert tenancy["user_ids_repeat"] is ids_repeat
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


EXECUTION_MODULE = '''\
from asgiref.sync import sync_to_async
from celery import shared_task
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer
from django.core.management.base import BaseCommand
from django.db.models.signals import post_save
from django.dispatch import receiver
from rest_framework.views import APIView

from .celery import app


def index(request):
    def inner():
        return 1
    return inner()


class Things(APIView):
    async def get(self, request):
        return await sync_to_async(self.load)()

    def load(self):
        return 1


class Room(AsyncWebsocketConsumer):
    async def connect(self):
        await database_sync_to_async(self.save)()
        self.note()

    def save(self):
        return 1

    def note(self):
        return 2


class SyncRoom(WebsocketConsumer):
    def connect(self):
        return 1


@shared_task
def nightly():
    return 1


@app.task(bind=True)
def bound(self):
    return 1


@receiver(post_save)
def saved(sender, **kwargs):
    return 1


class Command(BaseCommand):
    def handle(self, *args, **options):
        return 1


class Middleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


def helper():
    return 1


VALUE = 1
'''


def test_execution_context_of_every_function(tmp_path):
    """Where each function runs and whether on an event loop (the connection there is not the request's)."""
    import ast

    from tenantlint.model.execution import ExecutionMap
    from tenantlint.model.project import Project

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    path = tmp_path / "app" / "views.py"
    path.write_text(EXECUTION_MODULE)
    project = Project([str(path)], [str(tmp_path)])
    module = project.module_at(str(path))
    execution = ExecutionMap(module, project)
    found = {node.name: execution.at(node.body[0]) for node in ast.walk(module.tree)
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    described = {name: (e.place, e.role, e.runs_async, e.in_worker_thread) for name, e in found.items()}
    assert described == {
        "index": ("request", "view", False, False),
        "inner": ("request", "view", False, False),  # a closure runs where its function does
        "get": ("request", "view", True, False),
        "load": ("request", "view", False, True),  # handed to sync_to_async: a worker thread
        "connect": ("request", "consumer", False, False),  # SyncRoom's, the last one walked
        "save": ("request", "consumer", False, True),
        "note": ("request", "consumer", True, False),  # a sync method of an async consumer: its event loop
        "nightly": ("background", "task", False, False),
        "bound": ("background", "task", False, False),
        "saved": ("background", "receiver", False, False),
        "handle": ("background", "command", False, False),
        "__init__": ("unknown", "", False, False),
        "__call__": ("request", "middleware", False, False),
        "helper": ("unknown", "", False, False),
    }
    assert execution.at(module.tree.body[-1]).place == "import"
    room_connect = next(node for node in ast.walk(module.tree) if isinstance(node, ast.AsyncFunctionDef)
                        and node.name == "connect")
    assert execution.at(room_connect.body[0]).runs_async
    tests = ExecutionMap(module, project, is_test=True)
    assert tests.at(room_connect.body[0]).place == "test"


def test_the_settings_search_skips_gettext_catalog_folders(tmp_path):
    """`locale/<lang>/LC_MESSAGES` holds .po/.mo files only (Django has 1,130 such folders): never listed."""
    from tenantlint.model.settings_location import locate_settings

    (tmp_path / "conf" / "locale" / "fr" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "conf" / "locale" / "fr" / "formats.py").write_text("DATE_FORMAT = 'j F Y'\n")
    (tmp_path / "conf" / "locale" / "fr" / "LC_MESSAGES" / "settings.py").write_text("DEBUG = True\n")
    (tmp_path / "conf" / "settings.py").write_text("DEBUG = True\n")
    location = locate_settings(str(tmp_path), lambda relative: relative.endswith("settings.py"))
    assert [os.path.relpath(p, tmp_path) for p in location.by_name] == ["conf/settings.py"]
    assert [os.path.relpath(p, tmp_path) for p in location.python_files] == [
        "conf/locale/fr/formats.py", "conf/settings.py"]
