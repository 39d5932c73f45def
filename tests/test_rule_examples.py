"""Each rule's own `invalid` and `valid` examples (its documentation) are run as tests."""

from __future__ import annotations

import pytest

from lintutil import actual_marks, expected_marks, lint
from tenantlint.rules import all_rules

EXAMPLES = [(rule, kind, index, text) for rule in all_rules()
            for kind, texts in (("invalid", rule.invalid), ("valid", rule.valid)) for index, text in enumerate(texts)]


def test_every_rule_has_examples():
    for rule in all_rules():
        assert rule.invalid and rule.valid, rule.code


@pytest.mark.parametrize(("rule", "kind", "index", "text"), EXAMPLES,
                         ids=[f"{r.code}-{k}-{i}" for r, k, i, _ in EXAMPLES])
def test_example(tmp_path, rule, kind, index, text):
    path = tmp_path / rule.example_filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    paths = [path]
    if rule.example_settings:
        paths.append(tmp_path / "settings.py")
        paths[-1].write_text(rule.example_settings, encoding="utf-8")
    for name, other in rule.example_files.items():
        paths.append(tmp_path / name)
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        paths[-1].write_text(other, encoding="utf-8")
    # a rule about suppressions judges the other enabled rules' codes, so everything runs for it
    select = ["ALL"] if rule.reviews_suppressions else [rule.code]
    diagnostics, errors = lint(paths, select=select, root=tmp_path)
    diagnostics = [d for d in diagnostics if d.code == rule.code]
    assert errors == []
    expected = expected_marks([path], {rule.code})
    assert actual_marks(diagnostics, tmp_path, expected) == expected
    assert bool(expected) == (kind == "invalid")
