"""Every case under tests/fixtures/cases/<CODE>/ (a file or a folder) is linted with only that
rule selected, and its findings must be exactly the `# <CODE>` marks it carries."""

from __future__ import annotations

import pytest

from lintutil import CASES, actual_marks, expected_marks, lint

CASE_PATHS = sorted(p for code_dir in CASES.iterdir() if code_dir.is_dir() for p in code_dir.iterdir()
                    if p.suffix == ".py" or p.is_dir())


@pytest.mark.parametrize("case", CASE_PATHS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_case_findings_match_marks(case):
    code = case.parent.name
    base = case if case.is_dir() else case.parent
    diagnostics, errors = lint(case, select=[code], root=base)
    assert errors == []
    expected = expected_marks([case], {code})
    assert actual_marks(diagnostics, base, expected) == expected
    if case.name.startswith("noerror"):
        assert expected == set(), "a noerror case must carry no marks"
