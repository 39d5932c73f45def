"""SARIF 2.1.0, for code-scanning dashboards: rule metadata, results and their fixes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tenantlint import __version__
from tenantlint.diagnostics import Diagnostic, Edit, Severity
from tenantlint.docs import rule_markdown
from tenantlint.rules import all_rules

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _uri(path: str) -> str:
    relative = os.path.relpath(os.path.abspath(path))
    return Path(relative).as_posix() if not relative.startswith("..") else Path(os.path.abspath(path)).as_uri()


def _region(line: int, col: int, end_line: int, end_col: int) -> dict:
    return {"startLine": line, "startColumn": col + 1, "endLine": end_line, "endColumn": end_col + 1}


def _rule_record(rule) -> dict:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.what},
        "help": {"text": rule.why, "markdown": rule_markdown(rule)},
        "defaultConfiguration": {"level": _LEVEL[rule.severity], "enabled": rule.default_enabled},
        "properties": {"tags": ["security", "multi-tenant"], "fix": rule.fix_safety or "none"},
    }


def _fix_record(diagnostic: Diagnostic, edits: tuple[Edit, ...]) -> dict:
    return {
        "description": {"text": f"{diagnostic.fix.message} ({diagnostic.fix.applicability.value} fix)"},
        "artifactChanges": [{
            "artifactLocation": {"uri": _uri(diagnostic.path), "uriBaseId": "%SRCROOT%"},
            "replacements": [
                {"deletedRegion": _region(e.line, e.col, e.end_line, e.end_col), "insertedContent": {"text": e.content}}
                for e in edits
            ],
        }],
    }


def render_sarif(diagnostics: list[Diagnostic], previews: dict[int, tuple] | None = None) -> str:
    previews = previews or {}
    rules = all_rules()
    index = {rule.code: i for i, rule in enumerate(rules)}
    results = []
    for d in diagnostics:
        result = {
            "ruleId": d.code,
            "level": _LEVEL[d.severity],
            "message": {"text": d.message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": _uri(d.path), "uriBaseId": "%SRCROOT%"},
                "region": _region(d.line, d.col, d.end_line, d.end_col),
            }}],
        }
        if d.related:
            result["relatedLocations"] = [{
                "id": number,
                "message": {"text": related.message},
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(d.path), "uriBaseId": "%SRCROOT%"},
                    "region": _region(related.location.line, related.location.col,
                                      related.location.end_line, related.location.end_col),
                },
            } for number, related in enumerate(d.related)]
        if d.code in index:
            result["ruleIndex"] = index[d.code]
        edits = previews.get(id(d), d.fix.edits if d.fix else ())
        if d.fix and edits:
            result["fixes"] = [_fix_record(d, edits)]
        results.append(result)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "tenantlint", "version": __version__, "rules": [_rule_record(r) for r in rules]}},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(os.getcwd()).as_uri() + "/"}},
            "results": results,
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
