"""Rule pages and the README table are generated from rule metadata; these tests catch drift."""

from __future__ import annotations

from pathlib import Path

from tenantlint.docs import readme_with_table, rule_markdown
from tenantlint.rules import all_rules

ROOT = Path(__file__).parent.parent


def test_rule_pages_match_metadata():
    for rule in all_rules():
        page = ROOT / "docs" / "rules" / f"{rule.code}.md"
        assert page.read_text(encoding="utf-8") == rule_markdown(rule), f"run `python -m tenantlint.docs` ({rule.code})"
    assert sorted(p.stem for p in (ROOT / "docs" / "rules").glob("*.md")) == [r.code for r in all_rules()]


def test_readme_rule_table_matches_registry():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == readme_with_table(readme), "run `python -m tenantlint.docs`"


def test_every_rule_documents_what_why_and_options():
    from tenantlint.config import OPTION_HELP

    for rule in all_rules():
        assert rule.code.startswith("TL") and len(rule.code) == 5
        assert rule.name == rule.name.lower() and " " not in rule.name
        assert rule.what and rule.why and rule.summary and rule.fix_description
        assert all(option in OPTION_HELP for option in rule.options)


def test_readme_fix_proofs_name_the_rules_the_stack_scenarios_fix():
    """The README's table of what the fixes were proven to do lists exactly the rules whose fixes
    tests/test_stack.py runs, and every rule with a fix (TL001 and TL502 aside: no tenant flow to run)."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## What the fixes do, and what proves them"):readme.index("## Configuration")]
    in_table = set(re.findall(r"^\| (TL\d{3})", section, re.MULTILINE))
    scenarios = (ROOT / "tests" / "test_stack.py").read_text(encoding="utf-8")
    in_stack = set(re.findall(r'"--select", "(TL\d{3})"', scenarios))
    assert in_table == in_stack
    with_fix = {rule.code for rule in all_rules() if rule.fix_safety} - {"TL001", "TL502"}
    assert with_fix <= in_stack
