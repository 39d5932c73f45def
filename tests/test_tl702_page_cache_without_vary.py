"""Exact findings of TL702 page-cache-without-vary, with what the pinned Django release does about Authorization."""

from __future__ import annotations

import shutil

from lintutil import CASES, lint

PROJECT = CASES / "TL702" / "project"


def _message(view: str, read: str, note: str) -> str:
    return (f"`cache_page` on '{view}' keeps one page per URL, and the view reads `{read}`: the first visitor's page "
            "is served to every user, of this tenant or one sharing its host, who asks for that URL before it expires; "
            f"add `vary_on_headers(\"Cookie\", \"Authorization\")` below it{note}")


OLD = "; Django 5.2.14 (requirements.txt) does not vary on Authorization either (5.2.15 does)"


def test_cached_views_that_read_the_user_the_token_or_the_session():
    diagnostics, errors = lint(PROJECT, select=["TL702"], root=PROJECT)
    assert errors == []
    assert [(d.path.rpartition("/")[2], d.line, d.col, d.message) for d in diagnostics] == [
        ("urls.py", 7, 21, _message("history", "request.session", OLD)),  # cache_page(60)(view) in a URLconf
        ("views.py", 13, 0, _message("dashboard", "request.user", OLD)),
        ("views.py", 18, 0, _message("basket", "request.session", OLD)),  # through a helper
        ("views.py", 23, 0, _message("ProfileView", "self.request.user", OLD)),  # method_decorator on the class
        ("views.py", 30, 4, _message("OrdersView.get", "request.user", OLD)),  # method_decorator on the method
    ]


def test_a_django_release_that_varies_on_authorization_is_named(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    (project / "requirements.txt").write_text("Django==5.2.19\n")
    diagnostics, _ = lint(project, select=["TL702"], root=project)
    assert diagnostics[1].message == _message(
        "dashboard", "request.user", "; Django 5.2.19 (requirements.txt) varies on Authorization by itself, so token "
        "requests are kept apart, but session users still share the page")
    (project / "requirements.txt").unlink()
    diagnostics, _ = lint(project, select=["TL702"], root=project)
    assert diagnostics[1].message == _message("dashboard", "request.user", "")
