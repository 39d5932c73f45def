"""ruff's JSON layout, so tools that read ruff's output read ours."""

from __future__ import annotations

import json
import os

from tenantlint.diagnostics import Diagnostic


def diagnostic_record(diagnostic: Diagnostic) -> dict:
    return {
        "code": diagnostic.code,
        "message": diagnostic.message,
        "filename": os.path.abspath(diagnostic.path),
        "location": {"row": diagnostic.line, "column": diagnostic.col + 1},
        "end_location": {"row": diagnostic.end_line, "column": diagnostic.end_col + 1},
        "fix": None,
        "url": None,
        "noqa_row": diagnostic.line,
        "cell": None,
        "severity": diagnostic.severity.value,
    }


def render_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps([diagnostic_record(d) for d in diagnostics], indent=2, ensure_ascii=False) + "\n"
