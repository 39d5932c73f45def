"""GitHub Actions workflow commands: one annotation per finding."""

from __future__ import annotations

from tenantlint.diagnostics import Diagnostic, Severity

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diagnostics: list[Diagnostic]) -> str:
    lines = []
    for d in diagnostics:
        properties = ",".join([
            f"title={_escape_property(f'tenantlint ({d.code})')}",
            f"file={_escape_property(d.path)}",
            f"line={d.line}", f"col={d.col + 1}", f"endLine={d.end_line}", f"endColumn={d.end_col + 1}",
        ])
        message = _escape_data(f"{d.path}:{d.line}:{d.col + 1}: {d.code} {d.message}")
        lines.append(f"::{_LEVEL[d.severity]} {properties}::{message}\n")
    return "".join(lines)
