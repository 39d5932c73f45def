"""ruff's JSON layout, so tools that read ruff's output read ours."""

from __future__ import annotations

import json
import os

from tenantlint.diagnostics import Diagnostic


def fix_record(diagnostic: Diagnostic, edits) -> dict | None:
    fix = diagnostic.fix
    if fix is None:
        return None
    return {
        "applicability": fix.applicability.value,
        "message": fix.message,
        "edits": [
            {
                "content": edit.content,
                "location": {"row": edit.line, "column": edit.col + 1},
                "end_location": {"row": edit.end_line, "column": edit.end_col + 1},
            }
            for edit in edits
        ],
    }


def diagnostic_record(diagnostic: Diagnostic, edits=None) -> dict:
    return {
        "code": diagnostic.code,
        "message": diagnostic.message,
        "filename": os.path.abspath(diagnostic.path),
        "location": {"row": diagnostic.line, "column": diagnostic.col + 1},
        "end_location": {"row": diagnostic.end_line, "column": diagnostic.end_col + 1},
        "fix": fix_record(diagnostic, diagnostic.fix.edits if edits is None and diagnostic.fix else edits or ()),
        "url": None,
        "noqa_row": diagnostic.line,
        "cell": None,
        "severity": diagnostic.severity.value,
        "related": [
            {
                "message": related.message,
                "location": {"row": related.location.line, "column": related.location.col + 1},
                "end_location": {"row": related.location.end_line, "column": related.location.end_col + 1},
            }
            for related in diagnostic.related
        ],
    }


def render_json_lines(diagnostics: list[Diagnostic], previews: dict[int, tuple] | None = None) -> str:
    previews = previews or {}
    return "".join(json.dumps(diagnostic_record(d, previews.get(id(d))), ensure_ascii=False) + "\n" for d in diagnostics)


def render_json(diagnostics: list[Diagnostic], previews: dict[int, tuple] | None = None) -> str:
    """`previews` holds, by id(diagnostic), the edits of codemod fixes (computed only for this output)."""
    previews = previews or {}
    records = [diagnostic_record(d, previews.get(id(d))) for d in diagnostics]
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"
