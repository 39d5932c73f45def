"""The command line, through click's runner and through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from lintutil import SAMPLE
from tenantlint.cli import cli
from tenantlint.rules import all_rules

MIXED = textwrap.dedent("""\
    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework_simplejwt.authentication.JWTAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
    }
    TENANT_MODEL = "customers.Client"
""")
TL301_MESSAGE = ("'SessionAuthentication' (session) is a default authentication class beside 'JWTAuthentication' (token): "
                 "a request without a valid token is authenticated by the browser's session cookie instead; "
                 "set session authentication per view")


def run(*args, cwd: Path | None = None):
    runner = CliRunner()
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        return runner.invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "settings.py").write_text(MIXED)
    (tmp_path / "views.py").write_text("def index(request):\n    return None\n")
    return tmp_path


def test_concise_format_and_exit_code(project):
    result = run("check", "--output-format", "concise", ".", cwd=project)
    assert result.exit_code == 1
    assert result.output == f"settings.py:4:9: TL301 {TL301_MESSAGE}\n"


def test_full_format_shows_source_line_and_caret(project):
    result = run("check", "--no-color", ".", cwd=project)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"settings.py:4:9: TL301 {TL301_MESSAGE}"
    assert lines[2] == '4 |         "rest_framework.authentication.SessionAuthentication",'
    assert lines[3] == "  |         " + "^" * len('"rest_framework.authentication.SessionAuthentication"')
    assert lines[-2:] == ["Found 1 problem.", "1 hidden fix can be enabled with the `--unsafe-fixes` option."]


def test_json_format_follows_ruff_schema(project):
    result = run("check", "--output-format", "json", ".", cwd=project)
    assert result.exit_code == 1
    [record] = json.loads(result.output)
    assert record == {
        "code": "TL301",
        "message": TL301_MESSAGE,
        "filename": str(project / "settings.py"),
        "location": {"row": 4, "column": 9},
        "end_location": {"row": 4, "column": 62},
        "fix": {
            "applicability": "unsafe",
            "message": "Remove 'SessionAuthentication' from DEFAULT_AUTHENTICATION_CLASSES",
            "edits": [{
                "content": "        # SessionAuthentication removed from the defaults: add it to authentication_classes"
                           " on the views that need sessions\n",
                "location": {"row": 4, "column": 1},
                "end_location": {"row": 5, "column": 1},
            }],
        },
        "url": None,
        "noqa_row": 4,
        "cell": None,
        "severity": "warning",
        "related": [],
    }


def test_clean_tree_exits_zero(tmp_path):
    (tmp_path / "views.py").write_text("x = 1\n")
    result = run("check", str(tmp_path))
    assert result.exit_code == 0
    assert "All checks passed!" in result.output


def test_exit_zero_keeps_the_report(project):
    result = run("check", "--exit-zero", "--output-format", "concise", ".", cwd=project)
    assert result.exit_code == 0
    assert "TL301" in result.output


def test_missing_path_is_exit_2_with_its_name(tmp_path):
    result = run("check", str(tmp_path / "nowhere.py"))
    assert result.exit_code == 2
    assert f"tenantlint: error: {tmp_path / 'nowhere.py'}: no such file or directory" in result.output


@pytest.mark.parametrize(("args", "found"), [
    ((), True),
    (("--select", "TL3"), True),
    (("--select", "TL302"), False),
    (("--ignore", "TL301"), False),
    (("--ignore", "TL3"), False),
    (("--select", "TL301", "--ignore", "TL3"), True),  # the more specific selector wins
    (("--select", "ALL", "--ignore", "TL30"), False),
    (("--select", "TL302", "--extend-select", "TL301"), True),
    (("--select", "tl301"), True),
    (("--select", "TL302,TL301"), True),
])
def test_select_and_ignore(project, args, found):
    result = run("check", "--output-format", "concise", *args, ".", cwd=project)
    assert ("TL301" in result.output) is found
    assert result.exit_code == (1 if found else 0)


def test_unknown_selector_is_a_usage_error(project):
    result = run("check", "--select", "TL999", ".", cwd=project)
    assert result.exit_code == 2
    assert "unknown rule selector: TL999" in result.output


def test_bad_output_format_is_a_usage_error(project):
    result = run("check", "--output-format", "xml", ".", cwd=project)
    assert result.exit_code == 2


def test_per_file_ignores_and_config_select(project):
    (project / "pyproject.toml").write_text('[tool.tenantlint]\nper-file-ignores = { "settings.py" = ["TL301"] }\n')
    assert run("check", ".", cwd=project).exit_code == 0
    (project / "pyproject.toml").write_text('[tool.tenantlint]\nselect = ["TL302"]\n')
    assert run("check", ".", cwd=project).exit_code == 0
    assert run("check", "--select", "TL301", ".", cwd=project).exit_code == 1


def test_config_is_found_walking_up(project):
    (project / "pyproject.toml").write_text('[tool.tenantlint]\nignore = ["TL301"]\n')
    sub = project / "pkg"
    sub.mkdir()
    (sub / "settings.py").write_text(MIXED)
    assert run("check", str(sub)).exit_code == 0


def test_unknown_config_key_is_exit_2_naming_it(project):
    (project / "pyproject.toml").write_text('[tool.tenantlint]\nselekt = ["TL3"]\n')
    result = run("check", ".", cwd=project)
    assert result.exit_code == 2
    assert "unknown key 'selekt' in [tool.tenantlint]" in result.output


def test_invalid_toml_and_wrong_types_are_exit_2(project):
    (project / "pyproject.toml").write_text("[tool.tenantlint\n")
    assert run("check", ".", cwd=project).exit_code == 2
    (project / "pyproject.toml").write_text('[tool.tenantlint]\naudit-fields = "owner"\nignore = [1]\n')
    result = run("check", ".", cwd=project)
    assert result.exit_code == 2
    assert "'ignore' must be a list of strings" in result.output


def test_explicit_config_file(project, tmp_path_factory):
    other = tmp_path_factory.mktemp("conf") / "pyproject.toml"
    other.write_text('[tool.tenantlint]\nignore = ["TL301"]\n')
    assert run("check", "--config", str(other), ".", cwd=project).exit_code == 0
    result = run("check", "--config", str(other.parent / "missing.toml"), ".", cwd=project)
    assert result.exit_code == 2
    assert "configuration file not found" in result.output


@pytest.mark.parametrize(("comment", "suppressed"), [
    ("  # noqa", True),
    ("  # noqa: TL301", True),
    ("  # NOQA:TL302,TL301", True),
    ("  # noqa: TL3", True),
    ("  # noqa: TL302", False),
    ("  # noqa: E501", False),
])
def test_noqa_on_the_reported_line(tmp_path, comment, suppressed):
    text = MIXED.replace('SessionAuthentication",', 'SessionAuthentication",' + comment)
    (tmp_path / "settings.py").write_text(text)
    result = run("check", "--output-format", "concise", str(tmp_path))
    assert ("TL301" in result.output) is not suppressed


def test_file_level_noqa(tmp_path):
    (tmp_path / "settings.py").write_text("# tenantlint: noqa\n" + MIXED)
    assert run("check", str(tmp_path)).exit_code == 0
    (tmp_path / "settings.py").write_text("# tenantlint: noqa: TL302\n" + MIXED)
    assert run("check", str(tmp_path)).exit_code == 1
    (tmp_path / "settings.py").write_text("# tenantlint: noqa: TL301\n" + MIXED)
    assert run("check", str(tmp_path)).exit_code == 0


def test_syntax_error_is_tl000_and_other_files_still_checked(project):
    (project / "broken.py").write_text("def f(:\n    request = None\n")
    result = run("check", "--output-format", "concise", ".", cwd=project)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "broken.py:1:7: TL000 syntax error: invalid syntax",
        f"settings.py:4:9: TL301 {TL301_MESSAGE}",
    ]


def test_undecodable_file_is_tl000(tmp_path):
    (tmp_path / "latin.py").write_bytes(b"x = '\xff\xfe'\n")
    result = run("check", "--output-format", "concise", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.startswith(f"{tmp_path / 'latin.py'}:1:1: TL000 cannot decode file as utf-8:")


def test_tl000_cannot_be_silenced_by_noqa(tmp_path):
    (tmp_path / "broken.py").write_text("request = (  # noqa\n")
    result = run("check", "--output-format", "concise", str(tmp_path))
    assert "TL000" in result.output


def test_discovery_skips_venvs_node_modules_gitignored_and_excluded(tmp_path):
    for relative in ("app/settings.py", ".venv/lib/settings.py", "env2/settings.py", "node_modules/x/settings.py",
                     "generated/settings.py", "legacy/settings.py", "build/settings.py"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(MIXED)
    (tmp_path / "env2" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / ".gitignore").write_text("generated/\n")
    result = run("check", "--output-format", "concise", "--extend-exclude", "legacy", ".", cwd=tmp_path)
    assert [line.split(":")[0] for line in result.output.splitlines()] == ["app/settings.py"]
    result = run("check", "--output-format", "concise", "--exclude", "app", ".", cwd=tmp_path)
    assert sorted(line.split(":")[0] for line in result.output.splitlines()) == [
        ".venv/lib/settings.py", "build/settings.py", "legacy/settings.py", "node_modules/x/settings.py"]


def test_explicitly_named_file_is_checked_even_if_excluded(tmp_path):
    path = tmp_path / "build" / "settings.py"
    path.parent.mkdir()
    path.write_text(MIXED)
    assert run("check", str(path)).exit_code == 1


def test_rules_lists_every_rule():
    result = run("rules")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == [rule.code for rule in all_rules()]
    assert lines[[r.code for r in all_rules()].index("TL301")].split()[:5] == ["TL301", "mixed-session-jwt-auth", "on", "fix:", "unsafe"]
    assert len({line.index(" fix: ") for line in lines}) == 1  # the columns line up, the longest name included


def test_rule_prints_its_documentation():
    result = run("rule", "TL303")
    assert result.exit_code == 0
    text = result.output
    assert text.startswith("# TL303 tenant-middleware-order\n")
    for heading in ("## What it finds", "## Why it matters", "## What it deliberately does not flag",
                    "## Example (`settings.py`)", "## Fix", "## Options (`[tool.tenantlint]`)"):
        assert heading in text
    assert "# TL303" not in text.replace("# TL303 tenant-middleware-order", "")  # expectation marks stripped
    assert run("rule", "tenant-middleware-order").output == text


def test_unknown_rule_is_exit_2():
    result = run("rule", "TL999")
    assert result.exit_code == 2
    assert "unknown rule: TL999" in result.output


def _subprocess(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tenantlint", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_real_subprocess_exit_codes(project):
    findings = _subprocess("check", "--output-format", "concise", ".", cwd=project)
    assert findings.returncode == 1
    assert findings.stdout == f"settings.py:4:9: TL301 {TL301_MESSAGE}\n"
    clean = _subprocess("check", "views.py", cwd=project)
    assert clean.returncode == 0
    missing = _subprocess("check", "nope", cwd=project)
    assert missing.returncode == 2
    assert missing.stderr == "tenantlint: error: nope: no such file or directory\n"
    (project / "pyproject.toml").write_text('[tool.tenantlint]\nbogus = 1\n')
    bad_config = _subprocess("check", ".", cwd=project)
    assert bad_config.returncode == 2
    assert "unknown key 'bogus'" in bad_config.stderr


def test_console_script_runs_the_sample():
    script = Path(sys.executable).parent / "tenantlint"
    result = subprocess.run([str(script), "check", "--output-format", "json", str(SAMPLE)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert {record["code"] for record in json.loads(result.stdout)} >= {"TL301", "TL302"}


def test_force_exclude_applies_to_named_files(tmp_path):
    path = tmp_path / "legacy" / "settings.py"
    path.parent.mkdir()
    path.write_text(MIXED)
    (tmp_path / "pyproject.toml").write_text('[tool.tenantlint]\nextend-exclude = ["legacy"]\n')
    assert run("check", "legacy/settings.py", cwd=tmp_path).exit_code == 1
    assert run("check", "--force-exclude", "legacy/settings.py", cwd=tmp_path).exit_code == 0


def test_a_file_no_rule_wants_is_not_parsed(tmp_path):
    """The prefilter: without any rule's trigger word a file cannot have findings, so it is not even
    parsed, and a syntax error in it is left to the tools that check syntax (flake8's E999, ruff)."""
    (tmp_path / "unrelated.py").write_text("def f(:\n    pass\n")
    result = run("check", "--output-format", "concise", "--no-cache", str(tmp_path))
    assert (result.exit_code, result.output) == (0, "")


def test_nested_gitignore_applies_relative_to_its_folder(tmp_path):
    for relative in ("app/generated_settings.py", "app/sub/generated_settings.py", "other/generated_settings.py"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(MIXED)
    (tmp_path / "app" / ".gitignore").write_text("/generated_settings.py\n")
    result = run("check", "--output-format", "concise", "--no-cache", ".", cwd=tmp_path)
    assert sorted(line.split(":")[0] for line in result.output.splitlines()) == [
        "app/sub/generated_settings.py", "other/generated_settings.py"]
