"""What TL201 reads a cache key as (literal text, the tenant, opaque values) and where its fix goes."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Union

from tenantlint.diagnostics import Fix
from tenantlint.rules.base import Span
from tenantlint.trees import walk

PERCENT_FIELD = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<kind>[diouxXeEfFgGcrsa%])")
INSERT = "insert"  # put the schema into the expression that builds the key
WRAP = "wrap"  # turn the key expression into f"{schema}:{key}"
FIX_MESSAGE = "Add the schema name to the cache key"


@dataclass(frozen=True)
class FixTarget(Span):
    """A key expression to rewrite, found again by its span and text: `mode` says how (INSERT or WRAP)."""

    mode: str = INSERT


@dataclass
class KeyFix(Fix):
    """A codemod fix that knows, from detection, which expressions build the reported keys."""

    targets: tuple[FixTarget, ...] = ()


class Scoped:
    """The key involves the tenant or the schema."""


SCOPED = Scoped()


@dataclass(frozen=True)
class Opaque:
    """A value whose origin this module does not show: a parameter, an attribute, another module's call."""

    source: str
    # the schema of the connection read in async code: the event loop thread's, "public" for every tenant
    event_loop_schema: bool = False


@dataclass(frozen=True)
class Built:
    """A key assembled in this module from literal text and opaque values."""

    pieces: tuple[Union[str, Opaque], ...]
    node: ast.expr
    helper: str | None = None
    augmented: bool = False  # `key += ...` added to it: its source is no longer one expression
    # `node` is the only place this key can come from: no other assignment or return could build it
    exact: bool = True
    built_in: str | None = None  # another module's file, when an imported project function builds the key

    def has_text(self) -> bool:
        """Literal text that names something (`user:`); bare separators (`f"{a}:{b}"`) do not count."""
        return any(isinstance(piece, str) and any(c.isalnum() for c in piece) for piece in self.pieces)

    def variables(self) -> list[str]:
        found = self.__dict__.get("_variables")  # asked several times for each finding
        if found is None:
            found = self.__dict__["_variables"] = list(
                dict.fromkeys(piece.source for piece in self.pieces if isinstance(piece, Opaque)))
        return found

    def event_loop_schema(self) -> str | None:
        """The schema read of the key that async code makes on the event loop thread's connection."""
        return next((piece.source for piece in self.pieces if isinstance(piece, Opaque) and piece.event_loop_schema),
                    None)

    def pattern(self) -> str:
        """The key as text, computed parts written `{...}`: what public-cache-keys globs match."""
        return "".join(piece if isinstance(piece, str) else "{" + piece.source + "}" for piece in self.pieces)


Shape = Union[Scoped, Opaque, Built]


@dataclass(frozen=True)
class Where:
    """Where a name is read: its function scopes innermost first (module implied), from which position,
    and what a helper's parameters were called with."""

    scopes: tuple[ast.AST, ...]
    before: tuple[int, int] | None
    opaque: frozenset[str] = frozenset()
    arguments: tuple[tuple[str, Shape], ...] = ()

    def memo_key(self) -> tuple:
        """What a read's result depends on besides the node (kept: every read asks it)."""
        found = self.__dict__.get("_memo_key")
        if found is None:
            found = self.__dict__["_memo_key"] = (tuple(map(id, self.scopes)), self.before, self.opaque, self.arguments)
        return found


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
NESTED_SCOPES = (*FUNCTIONS, ast.ClassDef, *COMPREHENSIONS)


def start_of(node: ast.AST) -> tuple[int, int]:
    return node.lineno, node.col_offset


def end_of(node: ast.AST) -> tuple[int, int]:
    return node.end_lineno, node.end_col_offset


def comprehension_targets(node: ast.AST) -> set[str]:
    return {name.id for generator in node.generators for name in walk(generator.target)
            if isinstance(name, ast.Name)}
