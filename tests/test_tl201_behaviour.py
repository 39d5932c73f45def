"""TL201's fix, run: the plan's user cache under real Django (LocMemCache), two tenants with the same
user id, before and after `tenantlint check --fix`. The plan's function is `async def`: there the
connection is the event loop thread's, whose schema no middleware sets, so no fix is offered; the fix
is proven on the same function written as sync code, which runs where the tenant middleware ran.

Each run is a fresh interpreter (`settings.configure` happens once per process, and the module
under test is imported anew), so the test process never configures Django itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lintutil import SAMPLE
from test_cli import run

# The plan's Issue 2 function, cut to what the cache does; the users come from the active schema.
PLAN_MODULE = textwrap.dedent('''\
    """JWT authentication for WebSocket connections."""
    from django.core.cache import cache

    from tenant_tables import load_user


    async def get_user_by_id(user_id: int):
        """Get user by ID with caching"""
        cache_key = f"user:{user_id}"
        user_data = cache.get(cache_key)
        if user_data:
            return user_data

        user = await load_user(user_id)
        if user is None:
            return None
        cache.set(cache_key, {
            'id': user['id'],
            'username': user['username'],
            'email': user['email'],
        }, 300)
        return user
''')

# The same function in sync code (a view, or run through sync_to_async in the request's thread).
SYNC_MODULE = (PLAN_MODULE.replace("async def get_user_by_id", "def get_user_by_id")
               .replace("await load_user(user_id)", "load_user_now(user_id)")
               .replace("import load_user\n", "import load_user_now\n"))

# Stand-in for each schema's user table: django-tenants sends queries to the schema the
# connection is set to, so the same id names a different user in each tenant.
TENANT_TABLES = textwrap.dedent('''\
    from django.db import connection

    USERS = {
        "tenant_a": {7: {"id": 7, "username": "alice", "email": "alice@a.example"}},
        "tenant_b": {7: {"id": 7, "username": "bob", "email": "bob@b.example"}},
        "public": {7: {"id": 7, "username": "admin", "email": "admin@example.com"}},
    }


    async def load_user(user_id):
        return USERS[getattr(connection, "schema_name", "public")].get(user_id)


    def load_user_now(user_id):
        return USERS[getattr(connection, "schema_name", "public")].get(user_id)
''')

# Django configured for real, with its local-memory cache; `connection.schema_name` set as
# django-tenants' middleware sets it for each request (absent under plain Django).
SCENARIO = textwrap.dedent('''\
    import asyncio
    import inspect
    import json
    import sys

    import django
    from django.conf import settings

    settings.configure(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tl201"}},
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    )
    django.setup()

    from django.core.cache import cache
    from django.db import connection

    from realtime_auth import get_user_by_id


    async def serve(schemas):
        """One request per schema, each setting the connection's schema first as the tenant middleware does
        (None: plain Django, no schema_name at all)."""
        served = []
        for schema in schemas:
            if schema is None:
                vars(connection._connections["default"]).pop("schema_name", None)
            else:
                connection.schema_name = schema
            try:
                got = get_user_by_id(7)
                served.append((await got if inspect.isawaitable(got) else got)["username"])
            except Exception as error:
                served.append(type(error).__name__)
        return served, not hasattr(connection, "schema_name")

    served, plain = asyncio.run(serve(json.loads(sys.argv[1])))
    print(json.dumps({"served": served, "keys": sorted(cache._cache), "plain": plain}))
''')


@pytest.fixture
def project(tmp_path):
    (tmp_path / "realtime_auth.py").write_text(PLAN_MODULE, encoding="utf-8")
    (tmp_path / "tenant_tables.py").write_text(TENANT_TABLES, encoding="utf-8")
    (tmp_path / "scenario.py").write_text(SCENARIO, encoding="utf-8")
    return tmp_path


def requests(project: Path, schemas: list[str | None]) -> dict:
    """Serve user 7 once per schema in order, in one process; what each request got and the cache keys."""
    env = {**os.environ, "PYTHONPATH": str(project), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "scenario.py", json.dumps(schemas)], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def fix(project: Path) -> str:
    result = run("check", "--select", "TL201", "--fix", "--no-cache", str(project / "realtime_auth.py"))
    assert result.exit_code == 0, result.output
    return (project / "realtime_auth.py").read_text(encoding="utf-8")


def test_before_the_fix_tenant_b_is_served_tenant_as_cached_user(project):
    outcome = requests(project, ["tenant_a", "tenant_b"])
    assert outcome["served"] == ["alice", "alice"]
    assert outcome["keys"] == [":1:user:7"]  # one entry for both tenants


def test_the_plans_async_function_is_reported_and_left_unfixed(project):
    before = (project / "realtime_auth.py").read_text(encoding="utf-8")
    result = run("check", "--select", "TL201", "--fix", "--no-cache", str(project / "realtime_auth.py"))
    assert result.exit_code == 1
    assert result.output.count("no fix offered: in async code the connection's schema is not the request's tenant") == 1
    assert (project / "realtime_auth.py").read_text(encoding="utf-8") == before


def test_after_the_fix_each_tenant_has_its_own_entry_and_plain_django_still_runs(project):
    (project / "realtime_auth.py").write_text(SYNC_MODULE, encoding="utf-8")
    fixed = fix(project)
    assert "from django.db import connection\n" in fixed
    assert '    cache_key = f"{getattr(connection, \'schema_name\', \'public\')}:user:{user_id}"\n' in fixed
    assert fixed.count("getattr(connection") == 1  # the builder, once, for both cache calls
    # two tenants taking turns, then two requests without django-tenants (no schema_name at all)
    outcome = requests(project, ["tenant_a", "tenant_b", "tenant_a", "tenant_b", None, None])
    assert outcome["served"] == ["alice", "bob", "alice", "bob", "admin", "admin"]
    assert outcome["keys"] == [":1:public:user:7", ":1:tenant_a:user:7", ":1:tenant_b:user:7"]
    assert outcome["plain"] is True


def test_reading_connection_schema_name_directly_would_crash_plain_django(project):
    """Why the fix spells it with getattr: the issue's `connection.schema_name` raises there."""
    path = project / "realtime_auth.py"
    path.write_text(PLAN_MODULE.replace('f"user:{user_id}"', 'f"user:{connection.schema_name}:{user_id}"')
                    .replace("from django.core.cache import cache\n",
                             "from django.core.cache import cache\nfrom django.db import connection\n"),
                    encoding="utf-8")
    outcome = requests(project, [None])
    assert outcome["served"] == ["AttributeError"]


def test_the_sample_projects_async_key_is_reported_and_left_unfixed(tmp_path):
    sample = tmp_path / "sample"
    shutil.copytree(SAMPLE, sample)
    auth = sample / "backend" / "realtime" / "auth.py"
    before = auth.read_text(encoding="utf-8")
    result = run("check", "--select", "TL201", "--fix", "--no-cache", str(sample))
    assert result.exit_code == 1, result.output
    assert "Found 1 problem." in result.output and result.output.count("no fix offered: in async code") == 1
    assert auth.read_text(encoding="utf-8") == before


def test_reporting_fixable_findings_does_not_import_libcst(project):
    code = ("import sys\nfrom tenantlint.cli import main\nsys.argv = ['tenantlint', 'check', '--no-cache', '--select', "
            f"'TL201', '--output-format', 'concise', {str(project / 'realtime_auth.py')!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('libcst' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = output.strip().splitlines()
    assert [line.split(" ", 2)[1] for line in lines[:-1]] == ["TL201"]
    assert lines[-1] == "False"
