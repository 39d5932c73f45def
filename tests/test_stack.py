"""Fixes proven on a real stack: the CRM of tests/fixtures/stack (django-tenants on PostgreSQL, two tenants
on two host names, DRF + simplejwt with a tenant claim in every token) served through Django's real
middleware and URL routing. Each scenario shows the leak as the code is written, runs `tenantlint check
--fix` on a copy, and shows the leak gone and the legitimate flow still working; where tenantlint offers
no fix, that the code is left as it was."""

from __future__ import annotations

import shutil
import subprocess
import sys

import psycopg
import pytest
from stack_support import ROWS, STACK, TEMPLATE_DB, Cluster, run_scenario


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A server with the migrated CRM (public, alpha and beta, a user with id 1 in each) as a template."""
    server = Cluster()
    try:
        with psycopg.connect(host=server.socket, port=server.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
        pristine = tmp_path_factory.mktemp("pristine") / "crm"
        shutil.copytree(STACK, pristine)
        assert run_scenario(server, pristine, "setup", TEMPLATE_DB) == {"ready": True}
        yield server
    finally:
        server.stop()


@pytest.fixture
def crm(tmp_path, monkeypatch):
    """A copy of the CRM as written, to fix; each test's requests run on a database copied from the template."""
    monkeypatch.setenv("CRM_DB_TEMPLATE", TEMPLATE_DB)
    project = tmp_path / "crm"
    shutil.copytree(STACK, project)
    return project


def fix(project, *options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tenantlint", "check", ".", "--fix", "--no-cache",
                           "--output-format", "concise", *options], cwd=project, capture_output=True, text=True)


def ok(username: str, notes: list[str]) -> dict:
    return {"status": 200, "body": {"username": username, "notes": notes}}


def test_a_profile_cached_by_user_id_is_per_tenant_after_the_fix(cluster, crm, request):
    database = request.node.name[:40]
    alice, bob = ok("alice", ["alpha's secret"]), ok("bob", ["beta's secret"])
    # as written: user 1 of beta is served user 1 of alpha's cached profile
    assert run_scenario(cluster, crm, "profile_cache", database) == {"alpha": alice, "beta": alice, "alpha_again": alice}
    done = fix(crm, "--select", "TL201")
    assert done.returncode == 1  # the async keys are left, reported
    views = (crm / "notes" / "views.py").read_text()
    assert '        key = f"{getattr(connection, \'schema_name\', \'public\')}:profile:{request.user.id}"\n' in views
    assert "from django.db import connection\n" in views
    # each tenant its own entry; alpha's still serves alpha
    assert run_scenario(cluster, crm, "profile_cache", database + "_fixed") == {
        "alpha": alice, "beta": bob, "alpha_again": alice}


def test_an_async_key_is_reported_and_left_as_written(cluster, crm, request):
    """In async code the connection's schema is the event loop thread's ('public' for every tenant): a
    schema segment would change nothing, so no fix is offered, and the message says why."""
    before = (crm / "notes" / "views.py").read_text()
    leaked = run_scenario(cluster, crm, "notifications_async", request.node.name[:40])
    assert leaked == {"alpha": [0, 1], "beta": [2]}  # beta's user 1 counts on alpha's user 1's entry
    done = fix(crm, "--select", "TL201")  # the sync profile key above is fixed: one import line more
    async_part = before[before.index("async def notifications"):]
    assert async_part in (crm / "notes" / "views.py").read_text()
    assert (': TL201 cache key f"notifications:{user_id}" has no tenant component: tenants '
            "with the same user_id share this entry in cache.aget; no fix offered: in async code the connection's "
            "schema is not the request's tenant, take the tenant from the request or the consumer's scope"
            ) in done.stdout


def test_the_writer_and_the_remover_of_a_key_spelled_two_ways_still_meet_after_the_fix(cluster, crm, request):
    """`f"{presence_key}:{user_id}"` writes what `f"doc_presence:{doc}:{user_id}"` reads and removes."""
    database = request.node.name[:40]
    present, absent = {"present": True}, {"present": False}
    # as written: bob, user 1 of beta, is seen on the document alice (user 1 of alpha) joined
    assert run_scenario(cluster, crm, "presence", database) == {
        "alpha_joined": present, "beta_sees": present, "alpha_sees": present, "alpha_after_leaving": absent}
    fix(crm, "--select", "TL201")
    text = (crm / "notes" / "presence.py").read_text()
    assert 'cache.set(f"{getattr(connection, \'schema_name\', \'public\')}:{presence_key}:{user_id}", True, 300)' in text
    assert 'cache.delete(f"{getattr(connection, \'schema_name\', \'public\')}:doc_presence:{doc}:{user_id}")' in text
    assert run_scenario(cluster, crm, "presence", database + "_fixed") == {
        "alpha_joined": present, "beta_sees": absent, "alpha_sees": present, "alpha_after_leaving": absent}


def test_a_receiver_guards_its_audit_entry_and_still_does_its_other_work_after_the_fix(cluster, crm, request):
    database = request.node.name[:40]
    # as written: a save without a user (a system task) fails in the receiver, rolling the save back
    assert run_scenario(cluster, crm, "audit", database) == {
        "system_save": "IntegrityError", "notes": 2, "audit_actors": ["alice", "alice"], "stats": 2}
    done = fix(crm, "--select", "TL402", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (crm / "notes" / "signals.py").read_text() == (
        "import logging\n\n"
        "from django.db.models.signals import post_save\n"
        "from django.dispatch import receiver\n\n"
        "from notes.models import AuditEntry, Note, NoteStats\n\n"
        "logger = logging.getLogger(__name__)\n\n\n"
        "@receiver(post_save, sender=Note)\n"
        "def note_saved(sender, instance, created, **kwargs):\n"
        "    if instance.updated_by and instance.updated_by.is_authenticated:\n"
        "        AuditEntry.objects.create(actor=instance.updated_by, note=instance)\n"
        "    else:\n"
        '        logger.warning(f"No authenticated updated_by user for {instance.__class__.__name__} {instance.pk}")\n'
        '    NoteStats.objects.update_or_create(pk=1, defaults={"notes": Note.objects.count()})\n')
    # the system save goes through with no audit entry; alice's is recorded; the count still follows
    assert run_scenario(cluster, crm, "audit", database + "_fixed") == {
        "system_save": "saved", "notes": 3, "audit_actors": ["alice", "alice"], "stats": 3}


def test_a_disabled_middleware_is_put_back_only_when_django_can_call_it(cluster, crm, request):
    database = request.node.name[:40]
    assert run_scenario(cluster, crm, "served", database) == {"status": 200, "tenant_header": None}
    done = fix(crm, "--select", "TL302", "--unsafe-fixes")
    assert "crm/settings.py:31:5: TL302 middleware 'notes.middleware.LegacyAuditMiddleware' is commented out of " \
           "MIDDLEWARE, so it never runs, and it looks broken: LegacyAuditMiddleware.__call__ does not take the one " \
           "argument (the request) Django calls it with; put back as it is, every request would fail with a " \
           "TypeError, so no fix is offered: repair it first\n" in done.stdout
    settings = (crm / "crm" / "settings.py").read_text()
    assert '    "notes.middleware.TenantHeaderMiddleware",\n    # "notes.middleware.LegacyAuditMiddleware",\n' in settings
    # every request still served, and the middleware put back runs
    assert run_scenario(cluster, crm, "served", database + "_fixed") == {"status": 200, "tenant_header": "alpha"}


def test_two_tenants_at_once_through_one_middleware_each_see_their_own_after_the_fix(cluster, crm, request):
    database = request.node.name[:40]
    before = run_scenario(cluster, crm, "concurrent", database)
    assert before["alpha.test"] == before["beta.test"]  # whichever stored its request last is served to both
    done = fix(crm, "--select", "TL101", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    middleware = (crm / "notes" / "middleware.py").read_text()
    assert "        request_token = _ServedTenantMiddleware_request.set(request)\n" in middleware
    assert "        return _ServedTenantMiddleware_request.get().tenant.schema_name\n" in middleware
    assert run_scenario(cluster, crm, "concurrent", database + "_fixed") == {"alpha.test": "alpha", "beta.test": "beta"}


def test_an_anonymous_write_is_refused_after_the_fix_and_a_signed_one_still_recorded(cluster, crm, request):
    """With DRF's UNAUTHENTICATED_USER = None an anonymous request's user is None: the plan's own guard
    (`hasattr(request, 'user')`) would raise AttributeError on it; the fix's does not."""
    database = request.node.name[:40]
    # as written: the anonymous note is saved with no actor, then the audit receiver fails (a server error)
    assert run_scenario(cluster, crm, "note_drop", database) == {
        "signed": 201, "anonymous": 500, "recorded_actors": ["alice", None]}
    done = fix(crm, "--select", "TL401", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("        request = self.context.get('request')\n"
            "        if not request or not getattr(request, 'user', None) or not request.user.is_authenticated:\n"
            '            raise serializers.ValidationError("Invalid user context")\n'
            '        validated_data["updated_by"] = request.user\n') in (crm / "notes" / "serializers.py").read_text()
    assert run_scenario(cluster, crm, "note_drop", database + "_fixed") == {
        "signed": 201, "anonymous": 400, "recorded_actors": ["alice"]}


def test_a_tenant_key_function_on_the_cache_makes_every_key_per_tenant(cluster, crm, request):
    database = request.node.name[:40]
    alice, bob = ok("alice", ["alpha's secret"]), ok("bob", ["beta's secret"])
    assert run_scenario(cluster, crm, "profile_cache", database)["beta"] == alice  # as written
    done = fix(crm, "--select", "TL202", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ('        "KEY_FUNCTION": "django_tenants.cache.make_key",\n'
            '        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",\n'
            '        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",\n') in (crm / "crm" / "settings.py").read_text()
    assert (crm / "notes" / "views.py").read_text() == (STACK / "notes" / "views.py").read_text()  # no key rewritten
    assert run_scenario(cluster, crm, "profile_cache", database + "_fixed") == {
        "alpha": alice, "beta": bob, "alpha_again": alice}


def test_a_consumer_handed_its_tenant_refuses_a_token_of_another_tenant_after_the_fix(cluster, crm, request):
    """The socket's user lookup runs in Channels' database_sync_to_async thread, where no middleware set a
    schema; the consumer finds its tenant from the host and hands it over (`schema_name`): the check the
    fix inserts compares the claim with that, not with the connection."""
    database = request.node.name[:40]
    alice = {"connected": True, "greeting": {"user": "alice"}, "echo": {"echo": {"hello": 1}}}
    # as written: alice's token logs in on beta's socket as beta's user 1
    assert run_scenario(cluster, crm, "websocket", database) == {
        "same_tenant": alice, "other_tenant": {"connected": True, "greeting": {"user": "bob"}}}
    done = fix(crm, "--select", "TL501", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ('    token = AccessToken(raw)\n'
            '    token_tenant_schema = token.get("tenant_schema")\n'
            '    if token_tenant_schema != schema_name:\n') in (crm / "notes" / "consumers.py").read_text()
    assert run_scenario(cluster, crm, "websocket", database + "_fixed") == {
        "same_tenant": alice, "other_tenant": {"connected": False}}


def test_a_middleware_put_before_the_tenant_middleware_reads_the_previous_requests_schema_until_fixed(
        cluster, crm, request):
    database = request.node.name[:40]
    settings = crm / "crm" / "settings.py"
    # the mistake: a middleware reading tenant data listed before the tenant middleware
    settings.write_text(settings.read_text().replace(
        '    "django_tenants.middleware.main.TenantMainMiddleware",\n',
        '    "notes.middleware.BannerMiddleware",\n    "django_tenants.middleware.main.TenantMainMiddleware",\n'))
    # the first request finds the public schema; beta's is served alpha's note, left from the request before
    assert run_scenario(cluster, crm, "banners", database) == {
        "first_alpha": None, "beta": "alpha's secret", "alpha": "beta's secret"}
    done = fix(crm, "--select", "TL303", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ('    "django_tenants.middleware.main.TenantMainMiddleware",\n    "notes.middleware.BannerMiddleware",\n'
            in settings.read_text())
    assert run_scenario(cluster, crm, "banners", database + "_fixed") == {
        "first_alpha": "alpha's secret", "beta": "beta's secret", "alpha": "alpha's secret"}


def test_a_session_cookie_no_longer_authenticates_the_api_after_the_fix_and_tokens_still_do(cluster, crm, request):
    """Session and JWT authentication both in DRF's defaults: an API request without a token is
    authenticated by the session cookie the browser carries (any page can make it send one). Sent to the
    other tenant's host, where its user id is another user, the cookie is refused: Django checks the
    session's password hash against that user."""
    database = request.node.name[:40]
    settings = crm / "crm" / "settings.py"
    text = settings.read_text()
    settings.write_text(text.replace(
        '    "DEFAULT_AUTHENTICATION_CLASSES": ["notes.authentication.TenantJWTAuthentication"],\n',
        '    "DEFAULT_AUTHENTICATION_CLASSES": [\n'
        '        "notes.authentication.TenantJWTAuthentication",\n'
        '        "rest_framework.authentication.SessionAuthentication",\n'
        '    ],\n').replace(
        '    "django.middleware.common.CommonMiddleware",\n]\n',
        '    "django.middleware.common.CommonMiddleware",\n'
        '    "django.contrib.sessions.middleware.SessionMiddleware",\n'
        '    "django.contrib.auth.middleware.AuthenticationMiddleware",\n]\n'
        'SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"\n'
        'SESSION_COOKIE_DOMAIN = ".test"\n'))
    alice = {"status": 200, "body": {"username": "alice", "tenant": "alpha"}}
    refused = {"status": 401, "body": None}
    # as written: alice's session cookie alone authenticates an API request as alice
    assert run_scenario(cluster, crm, "session_cookie", database) == {
        "cookie_on_alpha": alice, "cookie_on_beta": refused, "token_on_alpha": alice}
    done = fix(crm, "--select", "TL301", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ('        "notes.authentication.TenantJWTAuthentication",\n'
            "        # SessionAuthentication removed from the defaults: add it to authentication_classes on the views "
            "that need sessions\n    ],\n" in settings.read_text())
    # the cookie authenticates no API request, on either host; alice's token still does
    assert run_scenario(cluster, crm, "session_cookie", database + "_fixed") == {
        "cookie_on_alpha": refused, "cookie_on_beta": refused, "token_on_alpha": alice}


def test_a_task_switches_back_when_its_work_ends_after_the_fix(cluster, crm, request):
    """A task switches the worker's connection to alpha and leaves it there: the next task, meant for the
    public schema, reads alpha's copy of a table both schemas have."""
    database = request.node.name[:40]
    # as written: the platform's account list (public: none) is alpha's users
    assert run_scenario(cluster, crm, "worker", database) == {"archived": 1, "platform_users": ["alice"]}
    done = fix(crm, "--select", "TL606", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (crm / "notes" / "tasks.py").read_text() == (
        "from celery import shared_task\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.db import connection\n"
        "from django_tenants.utils import tenant_context\n\n"
        "from customers.models import Client\n"
        "from notes.models import Note\n\n\n"
        "@shared_task\n"
        "def archive_notes(schema_name):\n"
        '    """Counts a tenant\'s notes for its archive (the worker runs it for each tenant in turn)."""\n'
        "    with tenant_context(Client.objects.get(schema_name=schema_name)):\n"
        "        return Note.objects.count()\n\n\n"
        "@shared_task\n"
        "def platform_users():\n"
        '    """The platform\'s own accounts, kept in the public schema (auth is a shared and a tenant app)."""\n'
        '    return sorted(get_user_model().objects.values_list("username", flat=True))\n')
    # alpha's task still counts alpha's notes; the next task reads the public schema
    assert run_scenario(cluster, crm, "worker", database + "_fixed") == {"archived": 1, "platform_users": []}


def test_a_queued_task_runs_in_the_tenant_that_queued_it_after_the_fix(cluster, crm, request):
    """A view queues a count of the tenant's notes; the worker, on its own connection, is on the public
    schema, where the notes table does not exist."""
    database = request.node.name[:40]
    # as written: the worker runs both tenants' counts on the public schema
    assert run_scenario(cluster, crm, "digest", database) == {"alpha": "ProgrammingError", "beta": "ProgrammingError"}
    done = fix(crm, "--select", "TL601", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (crm / "notes" / "digest.py").read_text() == (
        "from celery import shared_task\n"
        "from django.db import connection\n"
        "from django_tenants.utils import schema_context\n\n"
        "from notes.models import Note\n\n\n"
        "@shared_task\n"
        "def count_notes(*, schema_name=None):\n"
        '    """How many notes the tenant has, for its weekly digest."""\n'
        "    with schema_context(schema_name or connection.schema_name):\n"
        "        return Note.objects.count()\n")
    assert "    queued = count_notes.delay(schema_name=connection.schema_name)\n" in (
        crm / "notes" / "digest_views.py").read_text()
    # each tenant's count is its own: alpha has one note, beta two
    assert run_scenario(cluster, crm, "digest", database + "_fixed") == {"alpha": 1, "beta": 2}


def test_a_memo_of_tenant_data_is_kept_per_tenant_after_the_fix(cluster, crm, request):
    """The footer's note count is memoized for the process: the first tenant to ask decides it for all."""
    database = request.node.name[:40]
    # as written: beta's footer shows alpha's count
    assert run_scenario(cluster, crm, "footer", database) == {"alpha": 1, "beta": 1, "alpha_again": 1}
    done = fix(crm, "--select", "TL701", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (crm / "notes" / "memos.py").read_text() == (
        "from functools import lru_cache\n\n"
        "from django.db import connection\n\n"
        "from notes.models import Note\n\n\n"
        "def notes_total():\n"
        "    return _notes_total(connection.schema_name)\n\n\n"
        "@lru_cache(maxsize=None)\n"
        "def _notes_total(schema_name):\n"
        '    """How many notes the tenant keeps, for the page footer (counted once: it is on every page)."""\n'
        "    return Note.objects.count()\n")
    # each tenant's footer counts its own notes, and alpha's is still served from its memo
    assert run_scenario(cluster, crm, "footer", database + "_fixed") == {"alpha": 1, "beta": 2, "alpha_again": 1}


def test_each_tenant_s_files_go_to_its_own_folder_after_the_fix(cluster, crm, request):
    """A storage whose folder is a cached_property of the active schema: the first tenant's, for good."""
    database = request.node.name[:40]
    # as written: beta's attachment is saved in alpha's folder
    assert run_scenario(cluster, crm, "attachments", database) == {
        "alpha": "alpha", "beta": "alpha", "alpha_again": "alpha"}
    done = fix(crm, "--select", "TL703")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "    @property\n    def location(self):\n" in (crm / "notes" / "files.py").read_text()
    # each tenant's files in its own folder; alpha's still in alpha's
    assert run_scenario(cluster, crm, "attachments", database + "_fixed") == {
        "alpha": "alpha", "beta": "beta", "alpha_again": "alpha"}


def test_a_cached_page_is_kept_per_session_after_the_fix(cluster, crm, request):
    """A page cached with cache_page says who is signed in: the first visitor's page is every visitor's."""
    database = request.node.name[:40]
    _with_sessions(crm)
    # as written: a visitor who is not signed in is shown alice's page
    assert run_scenario(cluster, crm, "signed_in", database) == {"alice": "alice", "visitor": "alice",
                                                                 "alice_again": "alice"}
    done = fix(crm, "--select", "TL702", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ('@cache_page(60)\n@vary_on_headers("Cookie", "Authorization")\ndef signed_in_as(request):\n'
            in (crm / "notes" / "pages.py").read_text())
    # the visitor sees no one; alice still sees herself
    assert run_scenario(cluster, crm, "signed_in", database + "_fixed") == {"alice": "alice", "visitor": None,
                                                                           "alice_again": "alice"}


def _with_sessions(crm) -> None:
    """Django's session and authentication middleware, sessions in signed cookies (no session table)."""
    settings = crm / "crm" / "settings.py"
    settings.write_text(settings.read_text().replace(
        '    "django.middleware.common.CommonMiddleware",\n]\n',
        '    "django.middleware.common.CommonMiddleware",\n'
        '    "django.contrib.sessions.middleware.SessionMiddleware",\n'
        '    "django.contrib.auth.middleware.AuthenticationMiddleware",\n]\n'
        'SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"\n'))


def test_a_room_of_one_tenant_no_longer_hears_the_room_of_the_same_id_in_another_after_the_fix(cluster, crm, request):
    """Note 1 of alpha and note 1 of beta are two notes with one channel-layer group, `note_room_1`."""
    database = request.node.name[:40]
    # as written: bob, in beta's room of note 1, hears what alice says in alpha's
    assert run_scenario(cluster, crm, "rooms", database) == {"alpha": "hello", "alpha_again": "hello", "beta": "hello"}
    done = fix(crm, "--select", "TL603")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ('        self.room = f"{self.scope[\'tenant\'].schema_name}.note_room_{self.note_id}"\n'
            in (crm / "notes" / "rooms.py").read_text())
    # alice's two sockets still meet in alpha's room; beta's room hears nothing of it
    assert run_scenario(cluster, crm, "rooms", database + "_fixed") == {
        "alpha": "hello", "alpha_again": "hello", "beta": None}


def test_a_token_request_no_longer_finds_the_previous_session_user_on_its_thread_after_the_fix(cluster, crm, request):
    """A middleware keeps the session user on a thread-local for the audit fields, only when the session
    authenticates: a token request (authenticated later, in the view) on the same thread finds the last one."""
    database = request.node.name[:40]
    settings = crm / "crm" / "settings.py"
    settings.write_text(settings.read_text().replace(
        '    "django.middleware.common.CommonMiddleware",\n]\n',
        '    "django.middleware.common.CommonMiddleware",\n'
        '    "django.contrib.sessions.middleware.SessionMiddleware",\n'
        '    "django.contrib.auth.middleware.AuthenticationMiddleware",\n'
        '    "notes.current.CurrentUserMiddleware",\n]\n'
        'SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"\n'))
    alice = {"user": None, "signed_by": "alice"}  # the API authenticates tokens only; the session is the admin's
    # as written: bob's change on beta would be signed by alpha's alice
    assert run_scenario(cluster, crm, "signed_by", database) == {
        "alpha_session": alice, "beta_token": {"user": "bob", "signed_by": "alice"}, "alpha_again": alice}
    done = fix(crm, "--select", "TL605")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("    def __call__(self, request):\n"
            "        try:\n"
            "            if request.user.is_authenticated:\n"
            "                _thread_locals.user = request.user\n"
            "            return self.get_response(request)\n"
            "        finally:\n"
            "            _thread_locals.user = None\n") in (crm / "notes" / "current.py").read_text()
    # alice's session still signs her changes; bob's request finds no one else's
    assert run_scenario(cluster, crm, "signed_by", database + "_fixed") == {
        "alpha_session": alice, "beta_token": {"user": "bob", "signed_by": None}, "alpha_again": alice}


def test_a_token_of_another_tenant_is_refused_after_the_fix_and_a_token_of_this_tenant_accepted(
        cluster, crm, request):
    database = request.node.name[:40]
    # as written: alice's token, issued by alpha, logs in on beta as beta's user 1 (bob)
    assert run_scenario(cluster, crm, "token_tenant", database) == {
        "same_tenant": {"status": 200, "body": {"username": "alice", "tenant": "alpha"}},
        "other_tenant": {"status": 200, "body": {"username": "bob", "tenant": "beta"}}}
    done = fix(crm, "--select", "TL501", "--unsafe-fixes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (crm / "notes" / "authentication.py").read_text() == (
        "from django.contrib.auth import get_user_model\n"
        "from django.db import connection\n"
        "from rest_framework_simplejwt.authentication import JWTAuthentication\n"
        "from rest_framework_simplejwt.exceptions import InvalidToken\n"
        "\n\n"
        "class TenantJWTAuthentication(JWTAuthentication):\n"
        '    """Tokens carry the issuing tenant\'s schema (`tenant_schema`, see notes.tokens)."""\n'
        "\n"
        "    def get_user(self, validated_token):\n"
        "        User = get_user_model()\n"
        '        token_tenant_schema = validated_token.get("tenant_schema")\n'
        '        current_schema = getattr(connection, "schema_name", None)\n'
        "        if token_tenant_schema != current_schema:\n"
        '            raise InvalidToken("Token not valid for current tenant")\n'
        "        try:\n"
        '            return User.objects.get(id=validated_token["user_id"])\n'
        "        except User.DoesNotExist:\n"
        '            raise InvalidToken("No user for this token")\n')
    after = run_scenario(cluster, crm, "token_tenant", database + "_fixed")
    assert after["same_tenant"] == {"status": 200, "body": {"username": "alice", "tenant": "alpha"}}
    assert after["other_tenant"]["status"] == 401


def test_row_level_tenancy_a_shared_key_is_reported_and_no_constant_segment_is_added(cluster, tmp_path, monkeypatch):
    """The row-level shop beside the CRM: one schema for every company, so a schema segment would be the
    same `public` for all; the key is reported, the code left as it is, the message says what to add."""
    with psycopg.connect(host=cluster.socket, port=cluster.port, user="postgres", dbname="postgres",
                         autocommit=True) as connection:
        connection.execute('CREATE DATABASE "rows_template"')
    shop = tmp_path / "shop"
    shutil.copytree(ROWS, shop)
    assert run_scenario(cluster, shop, "rows_setup", "rows_template", "shop.settings") == {"ready": True}
    monkeypatch.setenv("CRM_DB_TEMPLATE", "rows_template")
    # as written: company b is shown company a's cached count
    assert run_scenario(cluster, shop, "rows_dashboard", "rows_one", "shop.settings") == {"a.test": 3, "b.test": 3}
    before = (shop / "shop" / "views.py").read_text()
    done = fix(shop, "--select", "TL201")
    assert (shop / "shop" / "views.py").read_text() == before
    assert ('shop/views.py:8:24: TL201 cache key "dashboard:totals" has no tenant component: every tenant shares this '
            "one entry in cache.get; list it in public-cache-keys if it is meant to be shared; no fix offered: with "
            "row-level tenancy every tenant shares one schema, so a schema segment would change nothing: add the "
            "tenant's id where the key is built\n") in done.stdout
