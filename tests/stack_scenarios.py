"""Scenarios on the CRM of tests/fixtures/stack, run by tests/test_stack.py in a child process:

    python stack_scenarios.py PROJECT SCENARIO [SETTINGS]   (CRM_DB_HOST, CRM_DB_PORT, CRM_DB_NAME set)

PROJECT is a copy of the CRM (fixed or not); the scenario prints one line of JSON saying what the
requests saw. With CRM_DB_TEMPLATE set, the database is first created from that template (a copy of
the migrated database with its two tenants). Not a test module: it imports the project under test.
"""

from __future__ import annotations

import json
import os
import sys


def _create_database() -> None:
    template = os.environ.get("CRM_DB_TEMPLATE")
    if not template:
        return
    import psycopg

    with psycopg.connect(host=os.environ["CRM_DB_HOST"], port=os.environ["CRM_DB_PORT"], user="postgres",
                         dbname="postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [os.environ["CRM_DB_NAME"]])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{os.environ["CRM_DB_NAME"]}" TEMPLATE "{template}"')


def setup() -> dict:
    """The template: shared tables, the public tenant, alpha (alpha.test) and beta (beta.test), a user with
    id 1 in each (alice in alpha, bob in beta: ids repeat across schemas) and a note of each."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django_tenants.utils import schema_context

    from customers.models import Client, Domain
    from notes.models import Note

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    Client.objects.create(schema_name="public", name="public")
    for schema, user, note in (("alpha", "alice", "alpha's secret"), ("beta", "bob", "beta's secret")):
        tenant = Client.objects.create(schema_name=schema, name=schema)
        Domain.objects.create(domain=f"{schema}.test", tenant=tenant, is_primary=True)
        with schema_context(schema):
            owner = get_user_model().objects.create_user(user, password="x")
            Note.objects.create(owner=owner, text=note, updated_by=owner)
    return {"ready": True}


def _token(schema: str) -> str:
    from django.contrib.auth import get_user_model
    from django_tenants.utils import schema_context

    from notes.tokens import access_token_for

    with schema_context(schema):
        return access_token_for(get_user_model().objects.get(id=1))


def _get(path: str, host: str, token: str) -> dict:
    from django.db import connection
    from django.test import Client

    response = Client().get(path, HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {token}")
    connection.set_schema_to_public()
    body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else None
    return {"status": response.status_code, "body": body}


def _call(method: str, path: str, host: str, token: str) -> dict:
    from django.db import connection
    from django.test import Client

    response = getattr(Client(), method)(path, HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {token}")
    connection.set_schema_to_public()
    return response.json()


def presence() -> dict:
    """alice (alpha) joins document 5; bob (beta's user 1) looks whether he is there; alice leaves."""
    alpha, beta = _token("alpha"), _token("beta")
    seen = {"alpha_joined": _call("post", "/presence/5/", "alpha.test", alpha),
            "beta_sees": _call("get", "/presence/5/", "beta.test", beta),
            "alpha_sees": _call("get", "/presence/5/", "alpha.test", alpha)}
    _call("delete", "/presence/5/", "alpha.test", alpha)
    seen["alpha_after_leaving"] = _call("get", "/presence/5/", "alpha.test", alpha)
    return seen


def audit() -> dict:
    """In alpha: alice saves a note, then a system task (no user) saves one; what was recorded."""
    from django.contrib.auth import get_user_model
    from django.db import IntegrityError, transaction
    from django_tenants.utils import schema_context

    from notes.models import AuditEntry, Note, NoteStats

    outcome = {}
    with schema_context("alpha"):
        alice = get_user_model().objects.get(username="alice")
        Note.objects.create(owner=alice, text="by alice", updated_by=alice)
        try:
            with transaction.atomic():
                Note.objects.create(owner=alice, text="by the nightly import")
            outcome["system_save"] = "saved"
        except IntegrityError:
            outcome["system_save"] = "IntegrityError"
        outcome["notes"] = Note.objects.count()
        outcome["audit_actors"] = sorted(entry.actor.username for entry in AuditEntry.objects.all())
        outcome["stats"] = NoteStats.objects.get(pk=1).notes
    return outcome


def served() -> dict:
    """alice asks who she is on alpha: the status, and the tenant header if a middleware sets one."""
    from django.test import Client

    response = Client().get("/whoami/", HTTP_HOST="alpha.test", HTTP_AUTHORIZATION=f"Bearer {_token('alpha')}")
    return {"status": response.status_code, "tenant_header": response.headers.get("X-Tenant")}


def concurrent() -> dict:
    """Two requests at once, one per tenant, through the one middleware instance: each meets the other at
    the middleware's checkpoint, so both have stored their request before either reads it."""
    import threading

    from django.db import connection
    from django.test import Client

    import notes.middleware

    handler = Client().handler  # one handler, so one instance of each middleware, as in a server
    warm = Client()
    warm.handler = handler
    warm.get("/served/", HTTP_HOST="alpha.test")  # the handler builds its middleware once, here
    barrier = threading.Barrier(2, timeout=10)
    notes.middleware.checkpoint = barrier.wait
    seen = {}

    def ask(host: str) -> None:
        client = Client()
        client.handler = handler
        seen[host] = client.get("/served/", HTTP_HOST=host).json()["served"]
        connection.close()

    threads = [threading.Thread(target=ask, args=(host,)) for host in ("alpha.test", "beta.test")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen


def note_drop() -> dict:
    """Alice hands in a note signed in; then someone anonymous hands in one: what each write recorded."""
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import schema_context

    from notes.models import Note

    def post(headers: dict) -> int:
        response = Client(raise_request_exception=False).post(
            "/notes/", {"text": "from the kiosk", "owner": 1}, HTTP_HOST="alpha.test",
            content_type="application/json", **headers)
        connection.set_schema_to_public()
        return response.status_code

    signed = post({"HTTP_AUTHORIZATION": f"Bearer {_token('alpha')}"})
    anonymous = post({})
    with schema_context("alpha"):
        actors = [note.updated_by.username if note.updated_by else None
                  for note in Note.objects.filter(text="from the kiosk").order_by("id")]
    return {"signed": signed, "anonymous": anonymous, "recorded_actors": actors}


def websocket() -> dict:
    """alice's alpha token on alpha's socket (she says hello), and on beta's socket (where id 1 is bob)."""
    import asyncio

    from channels.testing import WebsocketCommunicator

    from crm.asgi import application

    token = _token("alpha")

    async def session(host: str, talk: bool) -> dict:
        communicator = WebsocketCommunicator(application, f"/ws/notifications/?token={token}",
                                             headers=[(b"host", host.encode())])
        connected, _ = await communicator.connect()
        if not connected:
            return {"connected": False}
        seen = {"connected": True, "greeting": await communicator.receive_json_from()}
        if talk:
            await communicator.send_json_to({"hello": 1})
            seen["echo"] = await communicator.receive_json_from()
        await communicator.disconnect()
        return seen

    async def run():
        return {"same_tenant": await session("alpha.test", True), "other_tenant": await session("beta.test", False)}

    return asyncio.run(run())


def rooms() -> dict:
    """alice opens note 1's room on alpha twice, bob note 1's room on beta (note ids repeat across schemas);
    alice says hello in one of hers: what each socket hears."""
    import asyncio

    from channels.testing import WebsocketCommunicator

    from crm.asgi import application

    async def run():
        sockets = {name: WebsocketCommunicator(application, "/ws/notes/1/room/", headers=[(b"host", host)])
                   for name, host in (("alpha", b"alpha.test"), ("alpha_again", b"alpha.test"), ("beta", b"beta.test"))}
        for socket in sockets.values():
            connected, _ = await socket.connect()
            assert connected
        await sockets["alpha"].send_json_to({"text": "hello"})
        heard = {}
        for name, socket in sockets.items():
            # (a receive that times out cancels the consumer: ask whether anything came first)
            heard[name] = None if await socket.receive_nothing(timeout=1) else (await socket.receive_json_from())["heard"]
            await socket.disconnect()
        return heard

    return asyncio.run(run())


def banners() -> dict:
    """alpha, then beta, then alpha again, one after the other on one thread: each request's banner."""
    from django.test import Client

    def banner(host: str):
        return Client().get("/served/", HTTP_HOST=host).json()["banner"]

    return {"first_alpha": banner("alpha.test"), "beta": banner("beta.test"), "alpha": banner("alpha.test")}


def profile_cache() -> dict:
    """alice (id 1 in alpha) and bob (id 1 in beta) ask for their profile, alice twice (her cached entry)."""
    alpha, beta = _token("alpha"), _token("beta")
    return {"alpha": _get("/profile/", "alpha.test", alpha), "beta": _get("/profile/", "beta.test", beta),
            "alpha_again": _get("/profile/", "alpha.test", alpha)}


def notifications_async() -> dict:
    """User 1 of alpha opens the async notifications view twice, then user 1 of beta once (through the
    WSGI handler, which runs an async view on an event loop of its own, as under ASGI)."""
    from django.test import Client

    def seen(host: str) -> int:
        response = Client().get("/notifications/?user=1", HTTP_HOST=host)
        if response.status_code != 200:
            raise AssertionError(f"{host}: {response.status_code} {response.content[:300]!r}")
        return response.json()["seen"]

    return {"alpha": [seen("alpha.test"), seen("alpha.test")], "beta": [seen("beta.test")]}


def token_tenant() -> dict:
    """alice's alpha token on alpha (her own tenant) and on beta (where id 1 is bob)."""
    alpha = _token("alpha")
    return {"same_tenant": _get("/whoami/", "alpha.test", alpha), "other_tenant": _get("/whoami/", "beta.test", alpha)}


def session_cookie() -> dict:
    """alice logs in on alpha (a session cookie, as the admin site gives); the cookie goes with requests
    without a token to alpha and to beta (SESSION_COOKIE_DOMAIN shared by the tenants' hosts); then
    alice's token alone, on alpha."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import schema_context

    browser = Client()
    with schema_context("alpha"):
        browser.force_login(get_user_model().objects.get(username="alice"))

    def whoami(client: Client, host: str, **headers) -> dict:
        response = client.get("/whoami/", HTTP_HOST=host, **headers)
        connection.set_schema_to_public()
        return {"status": response.status_code, "body": response.json() if response.status_code == 200 else None}

    return {"cookie_on_alpha": whoami(browser, "alpha.test"), "cookie_on_beta": whoami(browser, "beta.test"),
            "token_on_alpha": whoami(Client(), "alpha.test", HTTP_AUTHORIZATION=f"Bearer {_token('alpha')}")}


def signed_by() -> dict:
    """alice, logged in on alpha with a session (as the admin site does it), asks who would sign her change;
    then bob, with his beta token alone, asks the same on the same thread (one server thread serves both)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import schema_context

    browser = Client()
    with schema_context("alpha"):
        browser.force_login(get_user_model().objects.get(username="alice"))
    alpha = browser.get("/signed-by/", HTTP_HOST="alpha.test").json()
    connection.set_schema_to_public()
    beta = Client().get("/signed-by/", HTTP_HOST="beta.test", HTTP_AUTHORIZATION=f"Bearer {_token('beta')}").json()
    connection.set_schema_to_public()
    alpha_again = browser.get("/signed-by/", HTTP_HOST="alpha.test").json()
    return {"alpha_session": alpha, "beta_token": beta, "alpha_again": alpha_again}


def worker() -> dict:
    """One worker process runs alpha's archiving task, then the platform's account listing (eagerly, in
    turn, on the one database connection a worker keeps)."""
    from notes.tasks import archive_notes, platform_users

    return {"archived": archive_notes.apply(args=["alpha"]).get(), "platform_users": platform_users.apply().get()}


def digest() -> dict:
    """alpha's and beta's users each ask for their digest (beta has one note more); the view queues the
    count, and a Celery worker (its own thread, so its own database connection, as a worker process has)
    runs what was queued, through an in-memory broker."""
    from celery import Celery
    from celery.contrib.testing.worker import start_worker
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_tenants.utils import schema_context

    from notes.models import Note

    app = Celery("crm", broker="memory://", backend="cache+memory://", set_as_current=True)
    from notes.digest import count_notes  # noqa: F401 (a shared task: it binds to the current app)

    with schema_context("beta"):
        bob = get_user_model().objects.get(username="bob")
        Note.objects.create(owner=bob, text="beta's second", updated_by=bob)
    queued = {host: Client().get("/digest/", HTTP_HOST=f"{host}.test").json()["task"] for host in ("alpha", "beta")}
    seen = {}
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        for host, task in queued.items():
            result = app.AsyncResult(task)
            result.get(timeout=30, propagate=False)
            seen[host] = result.result if result.successful() else type(result.result).__name__
    return seen


def footer() -> dict:
    """The footer's note count on alpha, on beta (which has one note more), and on alpha again, all in the
    one process that serves them."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_tenants.utils import schema_context

    from notes.models import Note

    with schema_context("beta"):
        bob = get_user_model().objects.get(username="bob")
        Note.objects.create(owner=bob, text="beta's second", updated_by=bob)
    seen = {}
    for label, host in (("alpha", "alpha.test"), ("beta", "beta.test"), ("alpha_again", "alpha.test")):
        seen[label] = Client().get("/footer/", HTTP_HOST=host).json()["notes"]
    return seen


def attachments() -> dict:
    """alpha attaches a file, then beta, then alpha again: the folder each file was saved in."""
    import tempfile

    from django.conf import settings
    from django.test import Client

    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="crm-media-")
    return {label: Client().post("/attach/", HTTP_HOST=host).json()["folder"]
            for label, host in (("alpha", "alpha.test"), ("beta", "beta.test"), ("alpha_again", "alpha.test"))}


def signed_in() -> dict:
    """alice (a session on alpha) opens the page, then a visitor who is not signed in, then alice again."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_tenants.utils import schema_context

    alice = Client()
    with schema_context("alpha"):
        alice.force_login(get_user_model().objects.get(username="alice"))
    page = "/signed-in/"
    return {"alice": alice.get(page, HTTP_HOST="alpha.test").json()["user"],
            "visitor": Client().get(page, HTTP_HOST="alpha.test").json()["user"],
            "alice_again": alice.get(page, HTTP_HOST="alpha.test").json()["user"]}


def rows_setup() -> dict:
    """The row-level shop's template: company a (a.test) with three orders, company b (b.test) with one."""
    from django.core.management import call_command

    from shop.models import Company, Order

    call_command("migrate", interactive=False, verbosity=0)
    for host, orders in (("a.test", 3), ("b.test", 1)):
        company = Company.objects.create(host=host)
        Order.objects.bulk_create([Order(company=company) for _ in range(orders)])
    return {"ready": True}


def rows_dashboard() -> dict:
    """Each company's dashboard, a first, then b."""
    from django.test import Client

    return {host: Client().get("/dashboard/", HTTP_HOST=host).json()["orders"] for host in ("a.test", "b.test")}


if __name__ == "__main__":
    project, scenario = sys.argv[1], sys.argv[2]
    sys.path.insert(0, project)
    os.environ["DJANGO_SETTINGS_MODULE"] = sys.argv[3] if len(sys.argv) > 3 else "crm.settings"
    _create_database()
    import django

    django.setup()
    print(json.dumps(globals()[scenario]()))
