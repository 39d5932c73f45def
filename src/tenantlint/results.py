"""What checking one file produces; kept apart from the engine so a cached result loads without it."""

from __future__ import annotations

from dataclasses import dataclass, field

from tenantlint.diagnostics import Diagnostic
from tenantlint.sourcefile import SourceText


@dataclass
class InternalError:
    """A rule that crashed on a file: reported, exit 2, the other rules and files still run."""

    path: str
    rule: str
    reason: str
    traceback: str


@dataclass
class FileResult:
    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[InternalError] = field(default_factory=list)
    source: SourceText | None = None
    dependencies: list[str] = field(default_factory=list)  # other files the result depends on
    unreadable: bool = False  # the file could not be read (a TL000 says why): the run exits 2
