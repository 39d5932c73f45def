"""--fix, --unsafe-fixes, --diff and --show-fixes, and the promise never to lose a user's file."""

from __future__ import annotations

import os
import stat

import pytest
from test_cli import run

from tenantlint import fixing
from tenantlint.diagnostics import Edit

COMMENTED = (
    "MIDDLEWARE = [\n"
    "    'django.middleware.security.SecurityMiddleware',\n"
    "    # 'django.contrib.auth.middleware.AuthenticationMiddleware',  # off for now\n"
    "]\n"
)
UNCOMMENTED = COMMENTED.replace("# 'django.contrib", "'django.contrib")


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "settings.py"
    path.write_text(COMMENTED)
    return path


def test_fix_without_unsafe_leaves_unsafe_fixes_alone(settings):
    result = run("check", "--fix", "--no-color", str(settings))
    assert result.exit_code == 1
    assert settings.read_text() == COMMENTED
    assert "1 hidden fix can be enabled with the `--unsafe-fixes` option." in result.output


def test_unsafe_fix_writes_and_exits_zero_when_nothing_remains(settings):
    result = run("check", "--fix", "--unsafe-fixes", "--show-fixes", "--no-color", str(settings))
    assert result.exit_code == 0
    assert settings.read_text() == UNCOMMENTED
    assert "Found 1 problem (1 fixed, 0 remaining)." in result.output
    assert f"- {settings}: 1 × TL302 (Uncomment 'django.contrib.auth.middleware.AuthenticationMiddleware')" in result.output
    again = run("check", "--fix", "--unsafe-fixes", str(settings))
    assert again.exit_code == 0 and settings.read_text() == UNCOMMENTED


def test_diff_prints_and_writes_nothing(settings):
    result = run("check", "--diff", "--unsafe-fixes", str(settings))
    assert result.exit_code == 1
    assert settings.read_text() == COMMENTED
    assert result.output == (
        f"--- {settings}\n+++ {settings}\n@@ -1,4 +1,4 @@\n"
        " MIDDLEWARE = [\n"
        "     'django.middleware.security.SecurityMiddleware',\n"
        "-    # 'django.contrib.auth.middleware.AuthenticationMiddleware',  # off for now\n"
        "+    'django.contrib.auth.middleware.AuthenticationMiddleware',  # off for now\n"
        " ]\n"
    )
    assert run("check", "--diff", str(settings)).exit_code == 0  # no safe fix: no diff


def test_encoding_bom_and_newlines_are_kept(tmp_path):
    latin = tmp_path / "settings.py"
    latin.write_bytes(("# -*- coding: latin-1 -*-\n# Café\n" + COMMENTED).replace("\n", "\r\n").encode("latin-1"))
    bom = tmp_path / "other_settings.py"
    bom.write_bytes(b"\xef\xbb\xbf" + ("# Café\n" + COMMENTED).encode("utf-8"))
    assert run("check", "--fix", "--unsafe-fixes", str(tmp_path)).exit_code == 0
    assert latin.read_bytes() == ("# -*- coding: latin-1 -*-\n# Café\n" + UNCOMMENTED).replace("\n", "\r\n").encode("latin-1")
    assert bom.read_bytes() == b"\xef\xbb\xbf" + ("# Café\n" + UNCOMMENTED).encode("utf-8")


def test_read_only_file_is_reported_not_written(settings):
    settings.chmod(stat.S_IRUSR | stat.S_IRGRP)
    try:
        result = run("check", "--fix", "--unsafe-fixes", "--output-format", "concise", str(settings))
    finally:
        settings.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert result.exit_code == 2  # the file could not be fixed
    assert settings.read_text() == COMMENTED
    assert f"tenantlint: error: {settings}: not fixed: it is read-only; not overwritten" in result.output
    assert "TL302" in result.output


def test_file_changed_since_read_is_not_overwritten(settings, monkeypatch):
    real_fix_source = fixing.fix_source

    def edit_meanwhile(*args, **kwargs):
        outcome = real_fix_source(*args, **kwargs)
        settings.write_text(COMMENTED + "# edited by the user meanwhile\n")
        return outcome

    monkeypatch.setattr(fixing, "fix_source", edit_meanwhile)
    result = run("check", "--fix", "--unsafe-fixes", str(settings))
    assert settings.read_text() == COMMENTED + "# edited by the user meanwhile\n"
    assert "it changed on disk since it was read; not overwritten" in result.output
    assert result.exit_code == 2  # the file could not be fixed


def test_fix_that_would_not_parse_is_dropped_and_reported(settings, monkeypatch):
    from tenantlint.rules.settings.tl302_disabled_middleware import DisabledMiddleware

    def broken(self, location, ctx):
        return self.fix("Break it", [Edit(location.line, 0, location.line, 0, "(((")])

    monkeypatch.setattr(DisabledMiddleware, "_uncomment", broken)
    result = run("check", "--fix", "--unsafe-fixes", "--output-format", "concise", str(settings))
    assert result.exit_code == 1
    assert settings.read_text() == COMMENTED
    assert f"tenantlint: {settings}:3: fix for TL302 not applied: the fixed text would not parse" in result.output
    leftovers = [name for name in os.listdir(settings.parent) if name != "settings.py"]
    assert leftovers == []


def test_syntax_error_file_is_left_alone_by_fix(tmp_path):
    broken = tmp_path / "settings.py"
    broken.write_text("MIDDLEWARE = [\n    # 'a.b.C',\n")
    result = run("check", "--fix", "--unsafe-fixes", "--output-format", "concise", str(tmp_path))
    assert result.exit_code == 1
    assert "TL000" in result.output
    assert broken.read_text() == "MIDDLEWARE = [\n    # 'a.b.C',\n"
