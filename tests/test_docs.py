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
