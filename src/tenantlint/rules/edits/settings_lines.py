"""Line-level edits for settings literals, where fixes move comments and whole lines.

The syntax tree keeps no comments, so the settings fixes (TL301-TL303) are
textual: they act only on the common layout of one entry per line, and offer
no fix otherwise.
"""

from __future__ import annotations

import re

from tenantlint.diagnostics import Edit, Location

_AFTER_ENTRY = re.compile(r"\s*(,)?\s*(#.*)?$")


def entry_alone_on_line(lines: list[str], loc: Location) -> bool:
    """The entry is the only code on its line, followed at most by a comma and a comment."""
    if loc.line != loc.end_line or not 0 < loc.line <= len(lines):
        return False
    line = lines[loc.line - 1]
    return line[: loc.col].strip() == "" and _AFTER_ENTRY.match(line[loc.end_col :]) is not None


def has_comma_after(lines: list[str], loc: Location) -> bool:
    match = _AFTER_ENTRY.match(lines[loc.end_line - 1][loc.end_col :])
    return bool(match and match.group(1))


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def whole_lines(first: int, last: int) -> tuple[int, int, int, int]:
    """An edit span covering lines first..last with their line endings."""
    return first, 0, last + 1, 0


def replace_lines(first: int, last: int, content: str) -> Edit:
    return Edit(*whole_lines(first, last), content)


def insert_before_line(line: int, content: str) -> Edit:
    return Edit(line, 0, line, 0, content)


def line_ending(raw_line: str) -> str:
    stripped = raw_line.rstrip("\r\n")
    return raw_line[len(stripped):] or "\n"
