"""The real flake8, pylint and pre-commit, run as subprocesses on the sample project, report what
`tenantlint check --output-format concise` reports: the same codes on the same lines."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lintutil import SAMPLE

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
FINDING = re.compile(r"^(?P<path>[^\s:][^:\n]*):(?P<line>\d+):(?P<col>\d+): (?:[A-Z]\d{4}: )?(?P<code>TL\d{3})\b", re.MULTILINE)


def findings(output: str, base: Path) -> set[tuple[str, int, str]]:
    found = set()
    for match in FINDING.finditer(output):
        path = Path(match.group("path"))
        path = path if path.is_absolute() else (base / path)
        found.add((path.resolve().relative_to(SAMPLE.resolve()).as_posix(), int(match.group("line")), match.group("code")))
    return found


def tenantlint_findings(target: Path) -> set[tuple[str, int, str]]:
    result = subprocess.run([str(BIN / "tenantlint"), "check", "--output-format", "concise", str(target)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    return findings(result.stdout, Path.cwd())


@pytest.fixture(scope="module")
def expected():
    found = tenantlint_findings(SAMPLE)
    assert found, "the sample must have findings"
    return found


def test_flake8_plugin_matches_the_cli(expected):
    result = subprocess.run([sys.executable, "-m", "flake8", "--select=TL", "."], cwd=SAMPLE,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert findings(result.stdout, SAMPLE) == expected


def test_flake8_handles_noqa_itself(tmp_path):
    settings = tmp_path / "settings.py"
    settings.write_text("MIDDLEWARE = [\n    'a.b.C',\n    # 'x.y.Z',  # noqa: TL302\n]\n")
    quiet = subprocess.run([sys.executable, "-m", "flake8", "--select=TL", str(settings)], capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stdout == ""
    loud = subprocess.run([sys.executable, "-m", "flake8", "--select=TL", "--disable-noqa", str(settings)],
                          capture_output=True, text=True)
    assert loud.stdout == f"{settings}:3:5: TL302 middleware 'x.y.Z' is commented out of MIDDLEWARE, so it never runs\n"


def test_flake8_options_override_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.tenantlint]\ntenant-middleware = ["vendor.Tenant"]\n')
    settings = tmp_path / "settings.py"
    settings.write_text('INSTALLED_APPS = ["django_tenants"]\nMIDDLEWARE = [\n    "a.A",\n    "vendor.Tenant",\n    "other.Tenancy",\n]\n')
    from_pyproject = subprocess.run([sys.executable, "-m", "flake8", "--select=TL", str(settings)], capture_output=True, text=True)
    assert ":4:5: TL303 tenant middleware 'Tenant' must be first" in from_pyproject.stdout
    from_flag = subprocess.run([sys.executable, "-m", "flake8", "--select=TL", "--tenant-middleware=other.Tenancy", str(settings)],
                               capture_output=True, text=True)
    assert ":5:5: TL303 tenant middleware 'Tenancy' must be first" in from_flag.stdout


def test_pylint_plugin_matches_the_cli(expected):
    result = subprocess.run(
        [sys.executable, "-m", "pylint", "--load-plugins=tenantlint.pylint", "--disable=all", "--enable=tenantlint",
         "--msg-template={path}:{line}:{column}: {msg_id}: {msg}", "--score=n",
         *sorted(str(p) for p in (SAMPLE / "backend").iterdir() if p.is_dir() or p.suffix == ".py")],
        cwd=SAMPLE / "backend", capture_output=True, text=True, timeout=300)
    assert result.returncode != 0, result.stderr
    assert findings(result.stdout, SAMPLE / "backend") == expected


def test_pylint_disable_comment_and_message_ids(tmp_path):
    settings = tmp_path / "settings.py"
    settings.write_text(
        'REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": [\n'
        '    "rest_framework_simplejwt.authentication.JWTAuthentication",\n'
        '    "rest_framework.authentication.SessionAuthentication",  # pylint: disable=mixed-session-jwt-auth\n'
        ']}\nTENANT_MODEL = "customers.Client"\n')
    command = [sys.executable, "-m", "pylint", "--load-plugins=tenantlint.pylint", "--disable=all", "--enable=tenantlint",
               "--score=n", "--msg-template={line}:{msg_id}:{symbol}", str(settings)]
    assert subprocess.run(command, capture_output=True, text=True).stdout.strip() == ""
    settings.write_text(settings.read_text().replace("  # pylint: disable=mixed-session-jwt-auth", ""))
    assert subprocess.run(command, capture_output=True, text=True).stdout.strip().splitlines()[-1] == "3:W8831:mixed-session-jwt-auth"


def test_pylint_message_ids_are_unique_and_free():
    from tenantlint.pylint import TenantlintChecker

    ids = list(TenantlintChecker.msgs)
    assert len(set(i[1:] for i in ids)) == len(ids)
    assert {i[1:3] for i in ids} == {"88"}


@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_pre_commit_try_repo_matches_the_cli(tmp_path, expected):
    repo = tmp_path / "project"
    shutil.copytree(SAMPLE, repo)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for command in (["git", "init", "-q"], ["git", "add", "."]):
        subprocess.run(command, cwd=repo, check=True, env=env)
    result = subprocess.run([str(BIN / "pre-commit"), "try-repo", str(ROOT), "tenantlint", "--all-files"],
                            cwd=repo, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 1, result.stdout + result.stderr
    found = set()
    for match in FINDING.finditer(result.stdout):
        found.add((match.group("path"), int(match.group("line")), match.group("code")))
    assert found == expected
