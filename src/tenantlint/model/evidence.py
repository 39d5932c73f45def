"""A fact the model inferred, with the file and line it was read from (shown by `tenantlint project`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Evidence:
    what: str
    path: str
    line: int
