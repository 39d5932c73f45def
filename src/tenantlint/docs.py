"""A rule's documentation page, made from the rule class itself so the two cannot drift."""

from __future__ import annotations

import re

from tenantlint.config import OPTION_HELP
from tenantlint.rules import all_rules
from tenantlint.rules.base import Rule

_EXPECTATION = re.compile(r"\s*#\s*TL\d{3}(?::\d+)?(?:\s+TL\d{3}(?::\d+)?)*\s*$")


def strip_expectations(example: str) -> str:
    """Examples mark expected findings with `# TL301`; readers need not see the marks."""
    return "".join(_EXPECTATION.sub("", line.rstrip("\n")) + "\n" for line in example.splitlines())


_SAFETY = {
    "safe": "The fix is safe. It runs with `--fix`.",
    "unsafe": "The fix is unsafe. It runs only with `--unsafe-fixes`.",
    "safe or unsafe": ("Each finding's fix is safe (it runs with `--fix`) or unsafe (it needs `--unsafe-fixes`), "
                       "as the fix description above explains; `--diff` and the JSON output show which."),
}


def fix_label(rule: type[Rule]) -> str:
    return rule.fix_safety or "none"


def rule_markdown(rule: type[Rule]) -> str:
    parts = [
        f"# {rule.code} {rule.name}",
        "",
        f"{rule.summary[0].upper()}{rule.summary[1:]}.",
        "",
        f"Default: {'on' if rule.default_enabled else 'off (opt in with `--extend-select ' + rule.code + '`)'}. "
        f"Severity: {rule.severity.value}. Autofix: {fix_label(rule)}.",
        "",
        "## What it finds",
        "",
        rule.what,
        "",
        "## Why it matters",
        "",
        rule.why,
        "",
    ]
    if rule.avoids:
        parts += ["## What it deliberately does not flag", "", rule.avoids, ""]
    if rule.example_settings:
        parts += ["## Project settings of the examples (`settings.py`)", "", "```python", rule.example_settings.rstrip("\n"), "```", ""]
    for name, text in rule.example_files.items():
        parts += [f"## Project file of the examples (`{name}`)", "", "```python", text.rstrip("\n"), "```", ""]
    for title, examples in (("Example", rule.invalid), ("Passes", rule.valid)):
        for example in examples:
            parts += [f"## {title} (`{rule.example_filename}`)", "", "```python", strip_expectations(example).rstrip("\n"), "```", ""]
    parts += ["## Fix", "", rule.fix_description, ""]
    if rule.fix_safety:
        parts += ["## Fix safety", "", _SAFETY[rule.fix_safety], ""]
    if rule.options:
        parts += ["## Options (`[tool.tenantlint]`)", ""]
        parts += [f"- `{option}`: {OPTION_HELP[option]}" for option in rule.options]
        parts += [""]
    return "\n".join(parts)


def rules_table_markdown() -> str:
    rows = ["| code | name | default | fix | summary |", "|---|---|---|---|---|"]
    for rule in all_rules():
        rows.append(f"| {rule.code} | {rule.name} | {'on' if rule.default_enabled else 'off'} | {fix_label(rule)} | {rule.summary} |")
    return "\n".join(rows) + "\n"


README_START, README_END = "<!-- rules-table:start -->", "<!-- rules-table:end -->"


def readme_with_table(readme: str) -> str:
    before, _, rest = readme.partition(README_START)
    _, _, after = rest.partition(README_END)
    return f"{before}{README_START}\n{rules_table_markdown()}{README_END}{after}"


def write_docs(root: str) -> None:
    """Regenerate docs/rules/*.md and the README's rule table: `python -m tenantlint.docs`."""
    import os

    folder = os.path.join(root, "docs", "rules")
    os.makedirs(folder, exist_ok=True)
    for rule in all_rules():
        with open(os.path.join(folder, f"{rule.code}.md"), "w", encoding="utf-8") as handle:
            handle.write(rule_markdown(rule))
    readme = os.path.join(root, "README.md")
    with open(readme, encoding="utf-8") as handle:
        text = handle.read()
    with open(readme, "w", encoding="utf-8") as handle:
        handle.write(readme_with_table(text))


if __name__ == "__main__":
    write_docs(".")
