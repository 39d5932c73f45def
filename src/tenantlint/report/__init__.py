"""Output formats; each takes the sorted diagnostics and writes text."""

from __future__ import annotations

from tenantlint.report.concise import render_concise
from tenantlint.report.json_format import render_json

FORMATS = ("full", "concise", "json")

__all__ = ["FORMATS", "render_concise", "render_json"]
