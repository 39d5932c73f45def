"""The CI output formats: SARIF (validated against the 2.1.0 schema), github, json-lines; --statistics, --output-file."""

from __future__ import annotations

import json

import jsonschema
import pytest

from lintutil import FIXTURES, SAMPLE
from test_cli import MIXED, TL301_MESSAGE, run
from tenantlint.rules import all_rules

SCHEMA = json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


@pytest.fixture
def project(tmp_path):
    (tmp_path / "settings.py").write_text(MIXED)
    (tmp_path / "other_settings.py").write_text("MIDDLEWARE = [\n    'a.b.C',\n    # 'x.y.Z',  # 100% off\n]\n")
    return tmp_path


def test_sarif_is_valid_and_carries_rules_and_fixes(project):
    result = run("check", "--output-format", "sarif", ".", cwd=project)
    assert result.exit_code == 1
    log = json.loads(result.output)
    jsonschema.validate(log, SCHEMA)
    run_ = log["runs"][0]
    assert [r["id"] for r in run_["tool"]["driver"]["rules"]] == [r.code for r in all_rules()]
    assert run_["tool"]["driver"]["rules"][0]["help"]["markdown"].startswith("# TL")
    by_rule = {r["ruleId"]: r for r in run_["results"]}
    tl301 = by_rule["TL301"]
    assert tl301["message"]["text"] == TL301_MESSAGE
    assert tl301["level"] == "warning"
    assert tl301["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "settings.py"
    assert tl301["locations"][0]["physicalLocation"]["region"] == {"startLine": 4, "startColumn": 9, "endLine": 4, "endColumn": 62}
    replacement = tl301["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement["deletedRegion"] == {"startLine": 4, "startColumn": 1, "endLine": 5, "endColumn": 1}
    assert "removed from the defaults" in replacement["insertedContent"]["text"]


def test_sarif_of_the_sample_is_valid():
    result = run("check", "--output-format", "sarif", str(SAMPLE))
    jsonschema.validate(json.loads(result.output), SCHEMA)


def test_github_annotations_line_by_line(project):
    result = run("check", "--output-format", "github", ".", cwd=project)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "::warning title=tenantlint (TL302),file=other_settings.py,line=3,col=5,endLine=3,endColumn=14::"
        "other_settings.py:3:5: TL302 middleware 'x.y.Z' is commented out of MIDDLEWARE, so it never runs",
        "::warning title=tenantlint (TL301),file=settings.py,line=4,col=9,endLine=4,endColumn=62::"
        f"settings.py:4:9: TL301 {TL301_MESSAGE}",
    ]


def test_github_escapes_percent_and_newlines():
    from tenantlint.diagnostics import Diagnostic, Location
    from tenantlint.report.github import render_github

    diagnostic = Diagnostic("TL201", "100% shared\nkey", Location("a,b:c.py", 1, 0, 1, 1))
    assert render_github([diagnostic]) == (
        "::warning title=tenantlint (TL201),file=a%2Cb%3Ac.py,line=1,col=1,endLine=1,endColumn=2::"
        "a,b:c.py:1:1: TL201 100%25 shared%0Akey\n")


def test_json_lines(project):
    result = run("check", "--output-format", "json-lines", ".", cwd=project)
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["code"], r["location"]["row"]) for r in records] == [("TL302", 3), ("TL301", 4)]
    assert records[0]["fix"]["edits"] == [{"content": "", "location": {"row": 3, "column": 5}, "end_location": {"row": 3, "column": 7}}]


def test_statistics(project):
    result = run("check", "--statistics", ".", cwd=project)
    assert result.exit_code == 1
    assert result.output == "1\tTL301\t    mixed-session-jwt-auth\n1\tTL302\t    disabled-middleware\n"
    unsafe = run("check", "--statistics", "--unsafe-fixes", ".", cwd=project)
    assert unsafe.output == "1\tTL301\t[*] mixed-session-jwt-auth\n1\tTL302\t[*] disabled-middleware\n"


def test_output_file(project):
    target = project / "report.json"
    result = run("check", "--output-format", "json", "--output-file", str(target), ".", cwd=project)
    assert result.exit_code == 1
    assert result.output == ""
    assert [r["code"] for r in json.loads(target.read_text())] == ["TL302", "TL301"]
    full = project / "report.txt"
    run("check", "-o", str(full), ".", cwd=project)
    assert "\x1b[" not in full.read_text() and "Found 2 problems." in full.read_text()


def test_json_shows_the_edits_of_codemod_fixes():
    target = FIXTURES / "fixes" / "TL201" / "local_key_three_calls.py"
    result = run("check", "--no-cache", "--select", "TL201", "--output-format", "json", str(target))
    records = json.loads(result.output)
    assert [r["location"]["row"] for r in records] == [11]  # the key, where it is built
    assert [(r["message"], r["location"]["row"]) for r in records[0]["related"]] == [
        ("used by cache.get", 12), ("used by cache.delete", 18), ("used by cache.set", 22)]
    fix = records[0]["fix"]
    assert fix["applicability"] == "safe" and fix["message"] == "Add the schema name to the cache key"
    assert fix["edits"] == [
        {"content": "from django.db import connection\n", "location": {"row": 5, "column": 1}, "end_location": {"row": 5, "column": 1}},
        {"content": "    cache_key = f\"{getattr(connection, 'schema_name', 'public')}:user:{user_id}\"\n",
         "location": {"row": 11, "column": 1}, "end_location": {"row": 12, "column": 1}},
    ]
    assert target.read_text().count("getattr(connection") == 0  # a report never writes
