"""The values a settings module is read as: text, lists, mappings, imports, and what cannot be known."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from tenantlint.diagnostics import Location

COMMENTED_ENTRY = re.compile(r"#\s*(?P<quote>['\"])(?P<path>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?P=quote)")


@dataclass
class Unknown:
    loc: Location | None = None


@dataclass
class Str:
    value: str
    loc: Location


@dataclass
class Seq:
    """A list or tuple setting; `complete` is False when some part could not be read."""

    items: list
    loc: Location
    complete: bool = True
    literals: list[tuple[str, ast.AST]] = field(default_factory=list)

    def strings(self) -> list[Str]:
        return [item for item in self.items if isinstance(item, Str)]


@dataclass
class Mapping:
    entries: dict
    loc: Location
    complete: bool = True


Value = Unknown | Str | Seq | Mapping


@dataclass
class Imported:
    """A name a module imports from another (`from .apps import INSTALLED_APPS`), read from that module
    only when a setting uses it: importing `BaseCommand` costs nothing, and makes no module a settings one."""

    path: str
    name: str
    stack: list[str]


@dataclass
class Assignment:
    name: str
    loc: Location


def deep_copy(value: Value) -> Value:
    if isinstance(value, Seq):
        return Seq([deep_copy(i) for i in value.items], value.loc, value.complete, list(value.literals))
    if isinstance(value, Mapping):
        return Mapping({k: deep_copy(v) for k, v in value.entries.items()}, value.loc, value.complete)
    return value
