"""Reading a Python file the way the interpreter would: bytes, PEP 263 encoding, BOM, newlines."""

from __future__ import annotations

import ast
import bisect
import errno
import io
import os
import re
import stat
import sys
import tokenize
from dataclasses import dataclass


def file_stamp(path: str) -> tuple[int, int] | None:
    """(size, modification time) of a file or folder, or None when it is not there: while it holds, what
    was read from it holds (a folder's changes when an entry is added, removed or renamed)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str, keepends: bool = False) -> list[str]:
    """Lines as Python numbers them: only \\n, \\r\\n and \\r end a line (`str.splitlines` also
    splits at form feeds and other separators, which would shift every later line number)."""
    lines = _LINE.findall(text)
    return lines if keepends else [line.rstrip("\r\n") for line in lines]


def read_file_bytes(path: str) -> bytes:
    """A file's bytes. A FIFO, socket or device is refused at once (OSError "not a regular file"):
    a checked project may hold one named `x.py`, and reading it would block or never end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", path)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


class LineIndex:
    """A text split into lines once, with `ast`'s byte columns turned into characters per line.

    Every lookup costs the size of its answer, not of the file: `ast.get_source_segment` re-splits
    the whole module on each call, and `str.encode` of a line per finding is quadratic on a long line.
    """

    def __init__(self, text: str):
        self.text = text
        self.lines = split_lines(text, keepends=True)
        self.ascii = text.isascii()  # then a byte column is the character column: no line is looked at
        self._starts: list[int] | None = None
        self._wide: dict[int, tuple[list[int], list[int]]] = {}  # line -> non-ASCII byte offsets, extra bytes

    def char_column(self, line: int, byte_col: int) -> int:
        """The character column of `byte_col` (UTF-8 bytes, as `ast` counts) on 1-based `line`."""
        if self.ascii or not 0 < line <= len(self.lines):
            return byte_col
        wide = self._wide.get(line)
        if wide is None:
            wide = self._wide[line] = _wide_characters(self.lines[line - 1])
        offsets, extra = wide
        if not offsets:
            return byte_col
        before = bisect.bisect_left(offsets, byte_col)  # wide characters that start before the column
        return byte_col - (extra[before - 1] if before else 0)

    def offset(self, line: int, byte_col: int) -> int:
        """The position in `text` of a 1-based line and a byte column."""
        if self._starts is None:
            starts, total = [], 0
            for text_line in self.lines:
                starts.append(total)
                total += len(text_line)
            starts.append(total)
            self._starts = starts
        start = self._starts[min(line - 1, len(self._starts) - 1)]
        return start + (byte_col if self.ascii else self.char_column(line, byte_col))

    def segment(self, node: ast.AST) -> str | None:
        """What `ast.get_source_segment(text, node)` returns."""
        end_line, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        if end_line is None or end_col is None or getattr(node, "lineno", None) is None:
            return None
        return self.text[self.offset(node.lineno, node.col_offset) : self.offset(end_line, end_col)]


def _wide_characters(line: str) -> tuple[list[int], list[int]]:
    """For each non-ASCII character of `line`: the byte offset it starts at, and the extra bytes
    (beyond one per character) of it and every wide character before it."""
    offsets: list[int] = []
    extra: list[int] = []
    if line.isascii():
        return offsets, extra
    position = total = 0
    for char in line:
        size = len(char.encode("utf-8", "surrogatepass"))
        if size > 1:
            offsets.append(position)
            total += size - 1
            extra.append(total)
        position += size
    return offsets, extra


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
        newer = newer_syntax(text)
        if newer is not None:
            return _raise(f"the file uses {newer}; tenantlint is running on {_RUNNING} (parser: {error.msg})",
                          line, col)
        return _raise(f"syntax error: {error.msg}", line, col)
    except ValueError as error:  # NUL bytes before Python 3.12
        line = text[: text.find("\0")].count("\n") + 1 if "\0" in text else 1
        return _raise(f"cannot parse file: {error}", line, 0)
    except (RecursionError, MemoryError):
        return _raise("cannot parse file: too deeply nested for Python's parser", 1, 0)


_RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
_NEWER_SYNTAX_LIMIT = 2_000_000  # characters: LibCST reads a file that big in a few seconds


def newer_syntax(text: str) -> str | None:
    """Which newer syntax a file that `ast` rejects uses, when a newer grammar (LibCST's, which
    knows up to 3.13's) accepts it: "Python 3.12 syntax" for PEP 695 and PEP 701, "Python 3.11
    syntax" for `except*`, "syntax newer than Python 3.x" otherwise; None for a plain syntax error."""
    if len(text) > _NEWER_SYNTAX_LIMIT or _bracket_depth(text) > _PYTHON_MAX_NESTING:
        return None  # LibCST's parser would take exponential time, or overflow its stack
    try:
        import libcst
        import libcst.matchers as match

        module = with_large_stack(libcst.parse_module, text)
    except Exception:  # libcst missing, or the file is wrong for every grammar it knows
        return None
    if match.findall(module, match.TypeAlias() | match.TypeParameters()) or _pep701_strings(module):
        found = (3, 12)
    elif match.findall(module, match.TryStar()):
        found = (3, 11)
    else:
        found = None
    if found is not None and found > sys.version_info[:2]:
        return f"Python {found[0]}.{found[1]} syntax"
    return f"syntax newer than Python {_RUNNING}"


_PYTHON_MAX_NESTING = 200  # Python's own parser refuses deeper brackets
_LARGE_STACK = 256 * 1024 * 1024


def _bracket_depth(text: str) -> int:
    """The deepest bracket nesting, counting brackets in strings too (an overestimate is safe)."""
    depth = deepest = 0
    for char in re.sub(r"[^()\[\]{}]+", "", text):
        depth = depth + 1 if char in "([{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def with_large_stack(function, *args):
    """Run `function` in a thread with a large stack: LibCST's native parser recurses once per
    nesting level and would overflow the main thread's stack (a crash, not an exception)."""
    import threading

    outcome: list = []

    def run():
        try:
            outcome.append((True, function(*args)))
        except BaseException as error:  # handed to the caller below
            outcome.append((False, error))

    previous = threading.stack_size(_LARGE_STACK)
    try:
        thread = threading.Thread(target=run, name="tenantlint-libcst", daemon=True)
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join()
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


def _pep701_strings(module) -> bool:
    """f-strings only Python 3.12 reads: the outer quote, a backslash or a comment inside `{}`."""
    import libcst

    for string in libcst.matchers.findall(module, libcst.matchers.FormattedString()):
        quote = string.start.lstrip("rRfFbBuU")
        for part in string.parts:
            if isinstance(part, libcst.FormattedStringExpression):
                inner = module.code_for_node(part.expression)
                if quote in inner or "\\" in inner or "#" in inner or ("\n" in inner and len(quote) == 1):
                    return True
    return False


def _raise(message: str, line: int, col: int):
    raise SourceError(message, line, col)
