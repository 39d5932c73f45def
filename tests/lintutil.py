"""Helpers for tests: run the engine on files and read the `# TL301` expectations they carry."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from tenantlint.config import Config, Options
from tenantlint.discovery import discover
from tenantlint.engine import Engine

FIXTURES = Path(__file__).parent / "fixtures"
CASES = FIXTURES / "cases"
SAMPLE = FIXTURES / "sample"
_MARK = re.compile(r"#\s*(?P<marks>TL\d{3}(?::\d+)?(?:\s+TL\d{3}(?::\d+)?)*)\s*$")


def lint(paths, select=None, options: Options | None = None, root: str | os.PathLike | None = None, **config_fields):
    """Findings for files or folders, as the CLI would find them; returns (diagnostics, errors)."""
    paths = [str(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])]
    first = Path(paths[0])
    config = Config(root=str(root or (first if first.is_dir() else first.parent)), select=select, **config_fields)
    if options is not None:
        config.options = options
    files = discover(paths, config).files
    engine = Engine(config, files=files)
    diagnostics, errors = [], []
    for file in files:
        result = engine.check_path(file)
        diagnostics.extend(result.diagnostics)
        errors.extend(result.errors)
    return diagnostics, errors


def expected_marks(paths, codes: set[str] | None = None) -> set[tuple[str, int, str, int | None]]:
    """(file name relative to the case, line, code, 1-based column or None) for each `# TLnnn[:col]` mark."""
    found = set()
    for path in paths:
        path = Path(path)
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        base = path if path.is_dir() else path.parent
        for file in files:
            for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
                match = _MARK.search(line)
                if not match:
                    continue
                for mark in match.group("marks").split():
                    code, _, col = mark.partition(":")
                    if codes is None or code in codes:
                        found.add((file.relative_to(base).as_posix(), number, code, int(col) if col else None))
    return found


def actual_marks(diagnostics, base: Path, expected) -> set[tuple[str, int, str, int | None]]:
    """Findings in the same shape; the column is kept only where the expectation names one."""
    with_columns = {(f, l, c) for f, l, c, col in expected if col is not None}
    found = set()
    for d in diagnostics:
        relative = Path(os.path.relpath(d.path, base)).as_posix()
        key = (relative, d.line, d.code)
        found.add((*key, d.col + 1 if key in with_columns else None))
    return found


def with_options(**changes) -> Options:
    return replace(Options(), **changes)
