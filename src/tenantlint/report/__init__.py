"""Output formats. Each renders sorted diagnostics to text; `full` prints through rich."""

from __future__ import annotations

FORMATS = ("full", "concise", "json", "json-lines", "sarif", "github")
PREVIEWED = {"json", "json-lines", "sarif"}  # formats that show codemod fixes' edits


def render(output_format: str, diagnostics, previews: dict[int, tuple]) -> str:
    if output_format == "concise":
        from tenantlint.report.concise import render_concise

        return render_concise(diagnostics)
    if output_format == "json":
        from tenantlint.report.json_format import render_json

        return render_json(diagnostics, previews)
    if output_format == "json-lines":
        from tenantlint.report.json_format import render_json_lines

        return render_json_lines(diagnostics, previews)
    if output_format == "sarif":
        from tenantlint.report.sarif import render_sarif

        return render_sarif(diagnostics, previews)
    if output_format == "github":
        from tenantlint.report.github import render_github

        return render_github(diagnostics)
    raise ValueError(output_format)


def render_statistics(diagnostics, unsafe: bool) -> str:
    """One line per code, most frequent first: count, code, [*] when fixable, rule name."""
    from collections import Counter

    from tenantlint.diagnostics import Applicability
    from tenantlint.rules import rule_by_code

    counts = Counter(d.code for d in diagnostics)
    fixable = {d.code for d in diagnostics if d.fix and (unsafe or d.fix.applicability is Applicability.SAFE)}
    width = len(str(max(counts.values(), default=0)))
    lines = []
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        rule = rule_by_code(code)
        name = rule.name if rule else "syntax-error"
        lines.append(f"{count:>{width}}\t{code}\t{'[*] ' if code in fixable else '    '}{name}\n")
    return "".join(lines)
