"""Adopting tenantlint on an existing codebase: `--add-noqa` and baselines.

A baseline remembers today's findings by rule, file, enclosing function or
class and the normalised text of the reported line, not by line number, so
it survives edits above a finding; `--baseline` then reports only new ones.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import tokenize
from collections import Counter
from dataclasses import dataclass

from tenantlint.diagnostics import Diagnostic
from tenantlint.sourcefile import split_lines
from tenantlint.trees import child_nodes

BASELINE_VERSION = 1
_NOQA_CODES = re.compile(r"#\s*noqa:\s?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*)", re.IGNORECASE)


class BaselineError(Exception):
    """An unreadable or malformed baseline file; exit 2."""


@dataclass(frozen=True)
class Fingerprint:
    code: str
    path: str
    scope: str
    snippet: str


def enclosing_scopes(tree: ast.Module) -> list[tuple[int, int, str]]:
    """(first line, last line, dotted name) of every function and class, outermost first."""
    spans = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                spans.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def fingerprint(diagnostic: Diagnostic, lines: list[str], scopes: list[tuple[int, int, str]], root: str) -> Fingerprint:
    scope = ""
    for first, last, name in scopes:
        if first <= diagnostic.line <= last:
            scope = name  # later entries are nested deeper
    text = lines[diagnostic.line - 1] if 0 < diagnostic.line <= len(lines) else ""
    snippet = " ".join(_NOQA_CODES.sub("", text).split())
    path = os.path.relpath(os.path.abspath(diagnostic.path), root).replace(os.sep, "/")
    return Fingerprint(diagnostic.code, path, scope, snippet)


def fingerprints(diagnostics: list[Diagnostic], texts: dict[str, str], root: str) -> list[Fingerprint]:
    scopes_by_path: dict[str, list] = {}
    found = []
    for diagnostic in diagnostics:
        text = texts.get(diagnostic.path, "")
        if diagnostic.path not in scopes_by_path:
            try:
                scopes_by_path[diagnostic.path] = enclosing_scopes(ast.parse(text))
            except (SyntaxError, ValueError, RecursionError):
                scopes_by_path[diagnostic.path] = []
        found.append(fingerprint(diagnostic, split_lines(text), scopes_by_path[diagnostic.path], root))
    return found


def write_baseline(path: str, prints: list[Fingerprint]) -> None:
    counts = Counter(prints)
    records = [{"code": p.code, "path": p.path, "scope": p.scope, "snippet": p.snippet, "count": n}
               for p, n in sorted(counts.items(), key=lambda item: (item[0].path, item[0].code, item[0].scope, item[0].snippet))]
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"version": BASELINE_VERSION, "tool": "tenantlint", "findings": records}, handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def read_baseline(path: str) -> Counter:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("version") != BASELINE_VERSION:
            raise BaselineError(f"{path}: unsupported baseline version {data.get('version')!r}")
        return Counter({Fingerprint(r["code"], r["path"], r["scope"], r["snippet"]): int(r.get("count", 1))
                        for r in data["findings"]})
    except OSError as error:
        raise BaselineError(f"cannot read baseline {path}: {error.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise BaselineError(f"{path} is not a tenantlint baseline: {error}") from None


def new_findings(diagnostics: list[Diagnostic], texts: dict[str, str], root: str, baseline: Counter) -> list[Diagnostic]:
    """The findings the baseline does not account for (each baselined print covers `count` findings)."""
    remaining = Counter(baseline)
    kept = []
    for diagnostic, print_ in zip(diagnostics, fingerprints(diagnostics, texts, root)):
        if remaining[print_] > 0:
            remaining[print_] -= 1
        else:
            kept.append(diagnostic)
    return kept


def add_noqa(text: str, diagnostics: list[Diagnostic], reason: str | None) -> tuple[str, int]:
    """Append `# noqa: CODES [reason]` to each reported line (merging with an existing noqa list).

    Lines that end inside a multi-line string cannot take a comment and are left alone.
    Returns the new text and the number of lines changed.
    """
    codes_by_line: dict[int, set[str]] = {}
    for diagnostic in diagnostics:
        if diagnostic.code != "TL000":
            codes_by_line.setdefault(diagnostic.line, set()).add(diagnostic.code)
    if not codes_by_line:
        return text, 0
    blocked = _lines_inside_strings(text)
    lines = split_lines(text, keepends=True)
    changed = 0
    for number, codes in codes_by_line.items():
        if number in blocked or not 0 < number <= len(lines):
            continue
        raw = lines[number - 1]
        body = raw.rstrip("\r\n")
        ending = raw[len(body):]
        existing = _NOQA_CODES.search(body)
        if existing:
            merged = sorted({c.upper() for c in re.split(r"[,\s]+", existing.group("codes")) if c} | codes)
            body = body[: existing.start("codes")] + ", ".join(merged) + body[existing.end("codes"):]
        else:
            body = body.rstrip() + f"  # noqa: {', '.join(sorted(codes))}" + (f" {reason}" if reason else "")
        lines[number - 1] = body + ending
        changed += 1
    return "".join(lines), changed


def _lines_inside_strings(text: str) -> set[int]:
    """Lines whose end lies inside a string literal (f-strings are split into tokens on 3.12+)."""
    blocked: set[int] = set()
    opened: list[int] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                blocked.update(range(token.start[0], token.end[0]))
            elif token.type == getattr(tokenize, "FSTRING_START", None):
                opened.append(token.start[0])
            elif token.type == getattr(tokenize, "FSTRING_END", None) and opened:
                blocked.update(range(opened.pop(), token.end[0]))
    except (tokenize.TokenError, SyntaxError):
        pass
    return blocked
