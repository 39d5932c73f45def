"""--add-noqa and baselines: adopting tenantlint on a codebase that already has findings."""

from __future__ import annotations

import json

from test_cli import MIXED, run

MIDDLEWARE = "MIDDLEWARE = [\n    'a.b.C',\n    # 'x.y.Z',\n]\n"


def test_add_noqa_is_idempotent_and_merges_codes(tmp_path):
    settings = tmp_path / "settings.py"
    settings.write_text(MIXED.replace('SessionAuthentication",', 'SessionAuthentication",  # noqa: E501'))
    other = tmp_path / "other_settings.py"
    other.write_text(MIDDLEWARE)
    result = run("check", "--add-noqa", "--reason", "legacy, see ticket 12", str(tmp_path))
    assert result.exit_code == 0
    assert "Added noqa directives to 2 lines." in result.output
    assert settings.read_text().splitlines()[3] == (
        '        "rest_framework.authentication.SessionAuthentication",  # noqa: E501, TL301')
    assert other.read_text().splitlines()[2] == "    # 'x.y.Z',  # noqa: TL302 legacy, see ticket 12"
    before = settings.read_text(), other.read_text()
    assert run("check", str(tmp_path)).exit_code == 0
    again = run("check", "--add-noqa", str(tmp_path))
    assert "Added noqa directives to 0 lines." in again.output
    assert (settings.read_text(), other.read_text()) == before


def test_add_noqa_skips_lines_ending_inside_a_string():
    from tenantlint.adoption import add_noqa
    from tenantlint.diagnostics import Diagnostic, Location

    text = 'x = """\nfirst\n"""\ny = 1\n'
    diagnostics = [Diagnostic("TL201", "m", Location("f.py", 1, 0, 1, 1)), Diagnostic("TL201", "m", Location("f.py", 4, 0, 4, 1))]
    assert add_noqa(text, diagnostics, None) == ('x = """\nfirst\n"""\ny = 1  # noqa: TL201\n', 1)


def test_baseline_survives_lines_inserted_above_and_reports_only_new(tmp_path):
    settings = tmp_path / "settings.py"
    settings.write_text(MIDDLEWARE)
    baseline = tmp_path / "tenantlint-baseline.json"
    written = run("check", "--write-baseline", str(baseline), str(tmp_path))
    assert written.exit_code == 0
    data = json.loads(baseline.read_text())
    assert data["findings"] == [{"code": "TL302", "path": "settings.py", "scope": "", "snippet": "# 'x.y.Z',", "count": 1}]
    settings.write_text("import os\n\n# middleware below\n" + MIDDLEWARE)
    assert run("check", "--baseline", str(baseline), str(tmp_path)).exit_code == 0
    settings.write_text("import os\n\n" + MIDDLEWARE.replace("]\n", "    # 'new.one.Here',\n]\n"))
    result = run("check", "--output-format", "concise", "--baseline", str(baseline), str(tmp_path))
    assert result.exit_code == 1
    assert result.output == f"{settings}:6:5: TL302 middleware 'new.one.Here' is commented out of MIDDLEWARE, so it never runs\n"


def test_baseline_keys_on_enclosing_scope_and_counts(tmp_path):
    from tenantlint.adoption import Fingerprint, fingerprints
    from tenantlint.diagnostics import Diagnostic, Location

    text = "class A:\n    def f(self):\n        x = 1\n        x = 1\n"
    diagnostics = [Diagnostic("TL101", "m", Location("m.py", 3, 8, 3, 9)), Diagnostic("TL101", "m", Location("m.py", 4, 8, 4, 9))]
    prints = fingerprints(diagnostics, {"m.py": text}, ".")
    assert prints == [Fingerprint("TL101", "m.py", "A.f", "x = 1")] * 2


def test_bad_baseline_is_exit_2(tmp_path):
    (tmp_path / "settings.py").write_text(MIDDLEWARE)
    bad = tmp_path / "baseline.json"
    bad.write_text("{not json")
    result = run("check", "--baseline", str(bad), str(tmp_path))
    assert result.exit_code == 2
    assert "is not a tenantlint baseline" in result.output
    assert run("check", "--baseline", str(tmp_path / "missing.json"), str(tmp_path)).exit_code == 2
