"""Exact findings of TL605 thread-local-tenant, and where it offers no fix."""

from __future__ import annotations

from lintutil import CASES, lint

NEXT = "the thread's next request, of any user or tenant"
# a middleware's module up to the first line of its `__call__` (line 11)
MIDDLEWARE = ("import threading\n\n_local = threading.local()\n\n\n"
              "class RequestMiddleware:\n"
              "    def __init__(self, get_response):\n"
              "        self.get_response = get_response\n\n"
              "    def __call__(self, request):\n")


def found(path, **kwargs):
    diagnostics, errors = lint(path, select=["TL605"], root=path if path.is_dir() else path.parent, **kwargs)
    assert errors == []
    return [(d.line, d.col, d.message, d.fix is not None) for d in diagnostics]


def test_each_spelling_says_how_the_value_outlives_its_request():
    assert found(CASES / "TL605" / "spellings.py") == [
        (32, 12, "`_thread_locals.user` keeps this request's user on the thread: it is set only when "
                 "`request.user.is_authenticated` (a token is authenticated later, in the view) and nothing resets it, "
                 "so the thread's next request that is not finds the previous one's, of any tenant; reset it in a "
                 "`finally` around `get_response`", True),
        (41, 8, "`_state.tenant` keeps this request's tenant on the thread: the reset on line 47 runs only on the "
                f"paths that reach it, and the return on line 43 leaves it set for {NEXT}; reset it in a `finally` "
                "around `get_response`", True),
        (55, 8, "`_context.request` keeps this request on the thread: the reset on line 59 runs only on the paths "
                f"that reach it, and the return on line 57 leaves it set for {NEXT}; reset it in a `finally` around "
                "`get_response`", True),
        (65, 8, f"`_current.user` keeps this request's user on the thread: nothing resets it after the response, so "
                f"{NEXT}, starts with it (code before this line, or that skips it, reads another person's); reset it "
                "in `process_response`", False),
        (73, 8, f"set_current_tenant(...) keeps this request's tenant on the thread: nothing resets it after the "
                f"response, so {NEXT}, starts with it (code before this line, or that skips it, reads another "
                "person's); call `unset_current_tenant()` in a `finally` around `get_response`", False),
        (79, 8, f"`_thread_locals.schema` keeps this request's tenant on the thread: nothing resets it after the "
                f"response, so {NEXT}, starts with it (code before this line, or that skips it, reads another "
                "person's); reset it in a `finally` around `get_response`", True),
    ]


def test_a_holder_imported_from_another_module_of_the_project():
    assert [(line, col) for line, col, _, _ in found(CASES / "TL605" / "imported")] == [(9, 8)]


def test_several_attributes_are_named_in_one_finding(tmp_path):
    (tmp_path / "middleware.py").write_text(MIDDLEWARE +
        "        _local.request = request\n"
        "        _local.user = request.user\n"
        '        x = 1; _local.role = "r"\n'
        "        return self.get_response(request)\n")
    assert found(tmp_path) == [(
        11, 8, "`_local.request`, `_local.user`, `_local.role` keep this request's user, and the request itself, on "
               f"the thread: nothing resets them after the response, so {NEXT}, starts with them (code before this "
               "line, or that skips it, reads another person's); reset them in a `finally` around `get_response`",
        False)]  # a statement sharing its line: no fix


def test_no_fix_where_indenting_would_change_a_string(tmp_path):
    (tmp_path / "middleware.py").write_text(MIDDLEWARE +
        "        _local.user = request.user\n"
        '        banner = """two\nlines"""\n'
        "        return self.get_response(request)\n")
    assert [(line, fixable) for line, _, _, fixable in found(tmp_path)] == [(11, False)]
