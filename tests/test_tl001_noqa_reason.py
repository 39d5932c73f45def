"""TL001 and the reason text `--add-noqa --reason` writes after the codes (issue 11, item 4).

`x = 1  # noqa: TL201 tenancy audit, ticket 123` is one comment token: when no code is left the
whole directive goes, reason included; a comment chained after it (`  # type: ignore`) stays.
Every TL001 edit touches only comment text (and the blanks before a removed comment), so each
parses on its own and one line never holds back the others.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from lintutil import CASES, lint
from tenantlint.config import Config
from tenantlint.diagnostics import Applicability, Edit
from tenantlint.engine import Engine
from tenantlint.fixing import apply_edits, fix_source
from tenantlint.sourcefile import decode_source

REASON = "tenancy audit, ticket 123"
# line 5 of MODULE is `    return cache.get(<key>)<comment>`: the comment starts at column 39 after SCOPED, 36 after SHARED
MODULE = "from django.core.cache import cache\n\n\ndef f(tenant):\n    return cache.get({key}){comment}\n"
SCOPED = 'f"{tenant}:flags"'  # no TL201: a `# noqa: TL201` on this line is unused
SHARED = '"flags_shared"'  # TL201: a `# noqa: TL201` on this line is used
CODE = "    return cache.get(%s)"


def _engine(tmp_path: Path, path: Path) -> Engine:
    # TL001 judges the codes of enabled rules: every rule runs, as in tests/test_fix_fixtures.py
    return Engine(Config(root=str(tmp_path), select=["ALL"]), files=[str(path)])


def _check(tmp_path: Path, text: str, name: str = "views.py"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    engine = _engine(tmp_path, path)
    source = decode_source(path.read_bytes())
    result = engine.check_text(str(path), source)
    assert result.errors == []
    findings = [d for d in result.diagnostics if d.code == "TL001"]
    return findings, fix_source(engine, str(path), source, unsafe=False)


# (key, comment, fixed comment, first column, end column, codes named in the message)
CASES_ONE_LINE = [
    pytest.param(SCOPED, f"  # noqa: TL201 {REASON}", "", 49, 54, "TL201", id="reason-removed-with-last-code"),
    pytest.param(SCOPED, "  # noqa: TL201 see ticket #123", "", 49, 54, "TL201", id="hash-digit-is-reason"),
    pytest.param(SCOPED, f"  # noqa: TL201, TL302 {REASON}", "", 49, 61, "TL201, TL302", id="two-codes-unused"),
    pytest.param(SCOPED, f"  # noqa:TL201,TL302 {REASON}   ", "", 48, 59, "TL201, TL302", id="no-blanks-trailing-blanks"),
    pytest.param(SCOPED, f"\t# noqa: tl201 {REASON}", "", 48, 53, "TL201", id="tab-and-lower-case-code"),
    pytest.param(SHARED, f"  # noqa: TL201, TL302 {REASON}", f"  # noqa: TL201 {REASON}", 53, 58, "TL302",
                 id="kept-code-keeps-reason"),
    pytest.param(SCOPED, f"  # noqa: TL201, E501 {REASON}", f"  # noqa: E501 {REASON}", 49, 54, "TL201",
                 id="other-tool-code-keeps-reason"),
    pytest.param(SCOPED, "  # noqa: TL302  # some other comment", "  # some other comment", 49, 54, "TL302",
                 id="chained-comment-stays"),
    pytest.param(SCOPED, f"  # noqa: TL201 {REASON}  # type: ignore[attr-defined]", "  # type: ignore[attr-defined]",
                 49, 54, "TL201", id="reason-then-chained-comment"),
    pytest.param(SCOPED, "  # noqa: TL201 see ticket #123  #pylint: disable=no-member", "  #pylint: disable=no-member",
                 49, 54, "TL201", id="hash-digit-then-chained-comment"),
    pytest.param(SCOPED, f"  # scoped per tenant  # noqa: TL201 {REASON}", "  # scoped per tenant", 70, 75, "TL201",
                 id="directive-after-a-comment"),
]


@pytest.mark.parametrize(("key", "comment", "fixed", "col", "end_col", "names"), CASES_ONE_LINE)
def test_one_directive(tmp_path, key, comment, fixed, col, end_col, names):
    text = MODULE.format(key=key, comment=comment)
    findings, outcome = _check(tmp_path, text)
    assert [(d.code, d.line, d.col, d.end_line, d.end_col, d.message) for d in findings] == [
        ("TL001", 5, col, 5, end_col, f"unused noqa directive for {names}: no such finding on this line")]
    fix = findings[0].fix
    assert (fix.applicability, fix.message) == (Applicability.SAFE, f"Remove unused noqa code {names}")
    expected = MODULE.format(key=key, comment=fixed)
    assert outcome.dropped == []
    assert outcome.text == expected
    assert outcome.text.encode("utf-8") == expected.encode("utf-8")
    assert ast.dump(ast.parse(outcome.text)) == ast.dump(ast.parse(text))  # only comment text changed


def test_removal_edit_spans_the_reason_to_the_end_of_the_comment(tmp_path):
    line = CODE % SCOPED
    findings, _ = _check(tmp_path, MODULE.format(key=SCOPED, comment=f"  # noqa: TL201 {REASON}"))
    assert findings[0].fix.edits == (Edit(5, len(line), 5, len(line) + len(f"  # noqa: TL201 {REASON}"), ""),)
    findings, _ = _check(tmp_path, MODULE.format(key=SCOPED, comment="  # noqa: TL302  # other"))
    assert findings[0].fix.edits == (Edit(5, len(line) + 2, 5, len(line) + len("  # noqa: TL302  "), ""),)


def test_crlf_line_endings_are_kept(tmp_path):
    text = MODULE.format(key=SCOPED, comment=f"  # noqa: TL201 {REASON}").replace("\n", "\r\n")
    findings, outcome = _check(tmp_path, text)
    assert [(d.line, d.col) for d in findings] == [(5, 49)]
    assert outcome.text == MODULE.format(key=SCOPED, comment="").replace("\n", "\r\n")


def test_used_directive_with_reason_is_no_finding(tmp_path):
    findings, outcome = _check(tmp_path, MODULE.format(key=SHARED, comment=f"  # noqa: TL201 {REASON}"))
    assert findings == []
    assert outcome.fixed == [] and not outcome.changed


TWO_LINES = (
    "from django.core.cache import cache\n"
    "\n"
    "\n"
    "def f(tenant):\n"
    f'    cache.get(f"{{tenant}}:a")  # noqa: TL201 {REASON}\n'
    '    cache.get(f"{tenant}:b")  # noqa: TL201\n'
    f'    return cache.get(f"{{tenant}}:c")  # noqa: TL302 see #4  # keep me\n'
)
TWO_LINES_FIXED = (
    "from django.core.cache import cache\n"
    "\n"
    "\n"
    "def f(tenant):\n"
    '    cache.get(f"{tenant}:a")\n'
    '    cache.get(f"{tenant}:b")\n'
    '    return cache.get(f"{tenant}:c")  # keep me\n'
)


def test_every_edit_parses_on_its_own_and_all_lines_are_fixed(tmp_path):
    findings, outcome = _check(tmp_path, TWO_LINES)
    assert [(d.line, d.col, d.end_col, d.message) for d in findings] == [
        (5, 38, 43, "unused noqa directive for TL201: no such finding on this line"),
        (6, 38, 43, "unused noqa directive for TL201: no such finding on this line"),
        (7, 45, 50, "unused noqa directive for TL302: no such finding on this line"),
    ]
    tree = ast.dump(ast.parse(TWO_LINES))
    for finding in findings:  # fixing.py refuses a whole rule's round if the joint text does not parse
        alone = apply_edits(TWO_LINES, list(finding.fix.edits))
        assert ast.dump(ast.parse(alone)) == tree
    assert outcome.dropped == []
    assert [d.line for d in outcome.fixed] == [5, 6, 7]
    assert outcome.text == TWO_LINES_FIXED


# --- the round trip through the real command line ------------------------------------------------

VIEWS = (
    "from django.core.cache import cache\n"
    "\n"
    "\n"
    "def flags(tenant):\n"
    '    return cache.get("flags") or Flag.objects.all()\n'
    "\n"
    "\n"
    "def legacy(tenant):\n"
    '    return cache.get("legacy") or Flag.objects.all()  # noqa: TL201\n'
    "\n"
    "\n"
    "def menu(tenant):\n"
    '    return cache.get("menu") or Flag.objects.all()\n'
)
VIEWS_NOQA = (
    VIEWS.replace('Flag.objects.all()\n', f'Flag.objects.all()  # noqa: TL201 {REASON}\n')
)
SETTINGS = (
    "MIDDLEWARE = [\n"
    '    "django.middleware.security.SecurityMiddleware",\n'
    '    # "django.contrib.auth.middleware.AuthenticationMiddleware",\n'
    "]\n"
)


def _tenantlint(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tenantlint", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _scoped(views: str) -> str:
    for name in ("flags", "legacy", "menu"):
        views = views.replace(f'get("{name}")', f'get(f"{{tenant}}:{name}")')
    return views


def _uncommented(settings: str) -> str:
    return settings.replace('    # "django.contrib', '    "django.contrib')


def test_round_trip_add_noqa_with_reason_then_fix(tmp_path):
    views, settings = tmp_path / "views.py", tmp_path / "settings.py"
    views.write_text(VIEWS, newline="")
    settings.write_text(SETTINGS, newline="")
    (tmp_path / "pyproject.toml").write_text('[tool.tenantlint]\ntenancy = "schema"\n')

    added = _tenantlint("check", "--add-noqa", "--reason", REASON, ".", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert added.stderr == "Added noqa directives to 3 lines.\n"
    assert views.read_text() == VIEWS_NOQA
    assert settings.read_text() == SETTINGS.replace(
        "AuthenticationMiddleware\",\n", f"AuthenticationMiddleware\",  # noqa: TL302 {REASON}\n")
    assert _tenantlint("check", ".", cwd=tmp_path).returncode == 0

    # the causes go (keys scoped per tenant, the middleware back on); the noqa comments stay behind
    views.write_text(_scoped(views.read_text()), newline="")
    settings.write_text(_uncommented(settings.read_text()), newline="")
    stale = _tenantlint("check", "--extend-select", "TL001", "--output-format", "concise", ".", cwd=tmp_path)
    assert stale.returncode == 1
    assert stale.stdout == (  # concise columns are 1-based: line 5's noqa starts at 0-based column 71
        "settings.py:3:73: TL001 unused noqa directive for TL302: no such finding on this line\n"
        "views.py:5:72: TL001 unused noqa directive for TL201: no such finding on this line\n"
        "views.py:9:73: TL001 unused noqa directive for TL201: no such finding on this line\n"
        "views.py:13:71: TL001 unused noqa directive for TL201: no such finding on this line\n"
    )

    fixed = _tenantlint("check", "--extend-select", "TL001", "--fix", ".", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "not applied" not in fixed.stderr
    assert fixed.stdout == "Found 4 problems (4 fixed, 0 remaining).\n"
    assert views.read_bytes() == _scoped(VIEWS).replace("  # noqa: TL201", "").encode("utf-8")
    assert settings.read_bytes() == _uncommented(SETTINGS).encode("utf-8")
    ast.parse(views.read_text())
    ast.parse(settings.read_text())
    again = _tenantlint("check", "--extend-select", "TL001", "--fix", ".", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout == "All checks passed!\n"


# --- the near-miss case in tests/fixtures/cases/TL001 --------------------------------------------

def test_near_miss_case_has_no_finding_with_every_rule_enabled():
    # tests/test_fixture_cases.py lints it with TL001 alone, where TL001 judges no code at all
    case = CASES / "TL001" / "noerror_reasons.py"
    diagnostics, errors = lint(case, select=["ALL"], root=case.parent)
    assert errors == []
    assert [(d.code, d.line) for d in diagnostics] == []
    engine = Engine(Config(root=str(case.parent), select=["ALL"]), files=[str(case)], apply_noqa=False)
    raw = engine.check_path(str(case)).diagnostics  # the directives are used: TL201 fires without them
    assert sorted({(d.code, d.line) for d in raw}) == [("TL201", 8), ("TL201", 12), ("TL201", 16)]
