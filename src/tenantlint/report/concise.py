from __future__ import annotations

from tenantlint.diagnostics import Diagnostic


def concise_line(diagnostic: Diagnostic) -> str:
    """flake8's layout: path:line:col: CODE message, the column counted from 1."""
    return f"{diagnostic.path}:{diagnostic.line}:{diagnostic.col + 1}: {diagnostic.code} {diagnostic.message}"


def render_concise(diagnostics: list[Diagnostic]) -> str:
    return "".join(concise_line(d) + "\n" for d in diagnostics)
