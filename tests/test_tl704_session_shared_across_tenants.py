"""Exact findings of TL704 session-shared-across-tenants."""

from __future__ import annotations

from lintutil import CASES, lint

CASES_704 = CASES / "TL704"


def _session(domain: str, store: str) -> str:
    return (f"SESSION_COOKIE_DOMAIN {domain!r} sends the session cookie to every tenant's host while {store} and users "
            "are per tenant: a session of user 7 of one tenant signs in user 7 of any other; leave it None (host-only "
            "cookies) or keep sessions per tenant")


def _findings(name: str):
    diagnostics, errors = lint(CASES_704 / name, select=["TL704"], root=CASES_704)
    assert errors == []
    return [(d.line, d.col, d.message) for d in diagnostics]


def test_a_parent_domain_cookie_with_the_session_table_in_public_and_a_shared_csrf_cookie():
    assert _findings("settings_parent_domain.py") == [
        (5, 24, _session(".example.com", "the session table is in the public schema")),
        (6, 21, "CSRF_COOKIE_DOMAIN '.example.com' shares the CSRF cookie among every tenant's hosts: a page on one "
         "tenant's host can set the token the other tenants' forms are checked against; leave it None"),
    ]


def test_signed_cookie_and_cache_sessions_and_subfolders():
    assert _findings("settings_signed_cookies.py") == [
        (6, 24, _session("example.com", "sessions live in the cookie itself"))]
    assert _findings("settings_cache_sessions.py") == [
        (7, 24, _session(".example.com", "sessions are cached under keys without the tenant"))]
    assert _findings("settings_subfolders.py") == [
        (6, 4, "tenants in subfolders of one host all receive its session cookie, while the session table is in the "
         "public schema and users are per tenant: a session of user 7 of one tenant signs in user 7 of any other; "
         "keep sessions per tenant")]
