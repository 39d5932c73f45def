"""Reading a Python file the way the interpreter would: bytes, PEP 263 encoding, BOM, newlines."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str, keepends: bool = False) -> list[str]:
    """Lines as Python numbers them: only \\n, \\r\\n and \\r end a line (`str.splitlines` also
    splits at form feeds and other separators, which would shift every later line number)."""
    lines = _LINE.findall(text)
    return lines if keepends else [line.rstrip("\r\n") for line in lines]


class SourceError(Exception):
    """A file that cannot be decoded or parsed; reported as TL000, never skipped."""

    def __init__(self, message: str, line: int = 1, col: int = 0):
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


@dataclass
class SourceText:
    text: str
    encoding: str
    has_bom: bool

    @property
    def newline(self) -> str:
        """The file's first newline style, kept when the file is rewritten."""
        for index, char in enumerate(self.text):
            if char == "\r":
                return "\r\n" if self.text[index + 1 : index + 2] == "\n" else "\r"
            if char == "\n":
                return "\n"
        return "\n"


def decode_source(data: bytes) -> SourceText:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        if b"coding" in data[:400]:
            raise SourceError(f"cannot decode file: {error}") from None
        encoding = "utf-8"  # undecodable bytes in the first lines: report where, below
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        line = data[: getattr(error, "start", 0)].count(b"\n") + 1
        raise SourceError(f"cannot decode file as {encoding}: {error}", line) from None
    has_bom = encoding == "utf-8-sig"
    return SourceText(text, "utf-8" if has_bom else encoding, has_bom)


def parse_source(text: str, filename: str) -> ast.Module:
    """One `ast.parse`; every failure becomes a SourceError with a location."""
    try:
        return ast.parse(text, filename=filename)
    except SyntaxError as error:
        line = error.lineno or 1
        col = max((error.offset or 1) - 1, 0)
        return _raise(f"syntax error: {error.msg}", line, col)
    except ValueError as error:  # NUL bytes before Python 3.12
        line = text[: text.find("\0")].count("\n") + 1 if "\0" in text else 1
        return _raise(f"cannot parse file: {error}", line, 0)
    except (RecursionError, MemoryError):
        return _raise("cannot parse file: too deeply nested for Python's parser", 1, 0)


def _raise(message: str, line: int, col: int):
    raise SourceError(message, line, col)
