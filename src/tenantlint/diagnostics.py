"""The one record every rule produces and every front-end prints."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Applicability(str, enum.Enum):
    """ruff's names: safe fixes run with --fix, unsafe ones need --unsafe-fixes."""

    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Location:
    """Where a finding starts and ends; lines 1-based, columns 0-based.

    `ast` counts columns in UTF-8 bytes, tokenize and users in characters:
    `byte_columns` marks the former until the engine converts them.
    """

    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    byte_columns: bool = False

    @classmethod
    def of(cls, path: str, node: Any) -> "Location":
        end_line = getattr(node, "end_lineno", None) or node.lineno
        end_col = getattr(node, "end_col_offset", None)
        if end_col is None:
            end_col = node.col_offset
        return cls(path, node.lineno, node.col_offset, end_line, end_col, True)


def char_column(line: str, byte_col: int) -> int:
    if line.isascii():
        return byte_col
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


@dataclass(frozen=True)
class Edit:
    """Replace the text between two positions (lines 1-based, columns 0-based characters)."""

    line: int
    col: int
    end_line: int
    end_col: int
    content: str


@dataclass
class Fix:
    """A repair attached to a diagnostic.

    A textual fix carries its `edits` (comment and line moves in settings
    modules, where the syntax tree has nothing to hold on to). A codemod fix
    has no edits: the rule rewrites the module with LibCST when asked.
    """

    applicability: Applicability
    message: str
    edits: tuple[Edit, ...] = ()

    @property
    def is_codemod(self) -> bool:
        return not self.edits


@dataclass(frozen=True)
class Related:
    """Another place of the same file a finding involves (a use of the key it reports)."""

    location: Location
    message: str


@dataclass
class Diagnostic:
    code: str
    message: str
    location: Location
    severity: Severity = Severity.WARNING
    fix: Fix | None = None
    related: tuple[Related, ...] = ()

    @property
    def path(self) -> str:
        return self.location.path

    @property
    def line(self) -> int:
        return self.location.line

    @property
    def col(self) -> int:
        return self.location.col

    @property
    def end_line(self) -> int:
        return self.location.end_line

    @property
    def end_col(self) -> int:
        return self.location.end_col

    def sort_key(self) -> tuple:
        return (self.path, self.line, self.col, self.code, self.message)

    def fix_applies(self, unsafe: bool) -> bool:
        """It has a fix that `--fix` applies (a safe one; any with `--unsafe-fixes`)."""
        return self.fix is not None and (unsafe or self.fix.applicability is Applicability.SAFE)
