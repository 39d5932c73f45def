"""Every tests/fixtures/fixes/<CODE>/<case>.py is fixed (unsafe fixes allowed, only that rule selected)
and must become exactly <case>.fixed.py, which parses, lints clean for that rule, and is a fixed point.
A `settings.py` beside the cases is the project settings they are checked under."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from lintutil import FIXTURES
from tenantlint.config import Config
from tenantlint.engine import Engine
from tenantlint.fixing import fix_source
from tenantlint.sourcefile import decode_source

FIXES = FIXTURES / "fixes"
PAIRS = sorted(p for p in FIXES.rglob("*.py") if not p.name.endswith(".fixed.py") and p.with_name(p.stem + ".fixed.py").exists()
               and not any(parent.name.endswith("_project") for parent in p.parents))


def fix_file(path: Path, code: str, root: Path):
    # TL001 judges the noqa codes of enabled rules, so every rule runs for it
    config = Config(root=str(root), select=["ALL"] if code == "TL001" else [code])
    files = [str(p) for p in root.rglob("*.py")]
    engine = Engine(config, files=files)
    source = decode_source(path.read_bytes())
    return engine, fix_source(engine, str(path), source, unsafe=True)


@pytest.mark.parametrize("case", PAIRS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fix_pair(tmp_path, case):
    code = case.parent.name
    target = tmp_path / case.name
    shutil.copy(case, target)
    if (case.parent / "settings.py").exists():
        shutil.copy(case.parent / "settings.py", tmp_path / "settings.py")
    expected = case.with_name(case.stem + ".fixed.py").read_bytes().decode("utf-8")
    engine, outcome = fix_file(target, code, tmp_path)
    assert outcome.dropped == []
    assert outcome.fixed, "the case must have something to fix"
    assert outcome.text == expected
    ast.parse(outcome.text)
    assert [d for d in outcome.result.diagnostics if d.code == code and d.fix] == []
    target.write_text(outcome.text, newline="")
    _, again = fix_file(target, code, tmp_path)
    assert again.text == outcome.text and again.fixed == []


def test_every_fixable_rule_has_fix_pairs():
    from tenantlint.rules import all_rules

    fixable = {rule.code for rule in all_rules() if rule.fix_safety}
    assert fixable <= {case.parent.name for case in PAIRS}
