"""Exact findings of TL604 thread-hop-without-tenant: every way of handing work to a thread, and the hops that
carry or choose the tenant."""

from __future__ import annotations

from lintutil import CASES, lint

PROJECT = CASES / "TL604" / "project"


def _message(call: str, function: str) -> str:
    return (f"`{call}` runs '{function}' on another thread, and it uses `Order` (a model of a tenant app) with no "
            "tenant chosen: each thread has its own database connection, which starts on the public schema, where "
            "that table is missing or is the public copy; pass `connection.schema_name` to it and run its work in "
            "`schema_context(schema_name)`")


def test_threads_timers_executors_and_thread_insensitive_sync_to_async():
    diagnostics, errors = lint(PROJECT, select=["TL604"], root=PROJECT)
    assert errors == []
    assert [(d.path.rpartition("/")[2], d.line, d.col, d.message) for d in diagnostics] == [
        ("views.py", 42, 4, _message("threading.Thread", "close_all")),  # an imported helper
        ("views.py", 43, 4, _message("threading.Timer", "count_open")),
        ("views.py", 44, 4, _message("executor.submit", "close_one")),
        ("views.py", 45, 4, _message("executor.submit", "close_one")),  # through functools.partial
        ("views.py", 56, 10, _message("loop.run_in_executor", "count_open")),
        ("views.py", 57, 10, _message("sync_to_async", "count_open")),  # thread_sensitive=False
        ("views.py", 60, 10, _message("asyncio.to_thread", "count_open")),
        ("views.py", 66, 8, _message("threading.Thread", "build")),  # a method, as self.build
        ("views.py", 75, 4, _message("threading.Thread", "close_all")),  # imported in the view, as close
    ]
