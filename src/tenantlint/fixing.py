"""Applying fixes: edit or rewrite, re-parse, re-lint, repeat until stable; never write a broken file."""

from __future__ import annotations

import ast
import contextlib
import difflib
import os
import signal
import stat
import tempfile
import threading
from dataclasses import dataclass, field, replace
from typing import Callable

from tenantlint.diagnostics import Diagnostic, Edit
from tenantlint.engine import Engine
from tenantlint.results import FileResult, InternalError
from tenantlint.rules.base import FixContext
from tenantlint.sourcefile import SourceText, read_file_bytes, split_lines, with_large_stack

MAX_ROUNDS = 10


@dataclass
class FixOutcome:
    path: str
    source: SourceText
    text: str
    fixed: list[Diagnostic] = field(default_factory=list)
    dropped: list[tuple[Diagnostic, str]] = field(default_factory=list)
    result: FileResult | None = None

    @property
    def changed(self) -> bool:
        return self.text != self.source.text


@dataclass
class FixAttempt:
    """A file fixed in memory from the bytes it held when read (in a worker, or here): the caller writes
    it, or shows it as a diff, only if the file still holds those bytes."""

    original: bytes
    outcome: FixOutcome


def check_and_fix(engine: Engine, path: str, unsafe: bool) -> tuple[FileResult, FixAttempt | None]:
    """The file's findings, and the file fixed in memory when some fix applies."""
    try:
        data = read_file_bytes(path)
    except OSError:
        return engine.check_path(path), None  # reports the read error
    result = engine.check_bytes(path, data)
    if result.errors or result.source is None or not any(d.fix_applies(unsafe) for d in result.diagnostics):
        return result, None
    outcome = fix_source(engine, path, result.source, unsafe)
    if outcome.changed:
        engine.forget_fixed_text(path)
    return result, FixAttempt(data, outcome)


def fix_source(engine: Engine, path: str, source: SourceText, unsafe: bool) -> FixOutcome:
    outcome = FixOutcome(path, source, source.text)
    refused: set[tuple] = set()
    for _ in range(MAX_ROUNDS):
        result = engine.check_text(path, replace(source, text=outcome.text))
        outcome.result = result
        lines = split_lines(outcome.text)
        wanted = [d for d in result.diagnostics if d.fix_applies(unsafe) and _identity(d, lines) not in refused]
        if not wanted or result.errors:
            break
        text, fixed, dropped = _one_round(engine, path, source, outcome.text, wanted)
        outcome.fixed += fixed
        outcome.dropped += dropped
        refused.update(_identity(d, lines) for d, _ in dropped)
        if text == outcome.text:
            break
        outcome.text = text
    return outcome


def _identity(diagnostic: Diagnostic, lines: list[str]) -> tuple:
    """A refused fix, recognised in later rounds (earlier fixes may move it): rule, message, text of its line."""
    line = lines[diagnostic.line - 1] if 0 < diagnostic.line <= len(lines) else ""
    return diagnostic.code, diagnostic.message, line


def _one_round(engine: Engine, path: str, source: SourceText, text: str, wanted: list[Diagnostic]):
    textual = [d for d in wanted if not d.fix.is_codemod]
    if textual:
        groups = [textual] + ([_by_code(textual, code) for code in sorted({d.code for d in textual})] if len({d.code for d in textual}) > 1 else [])
        for group in groups:
            candidate = apply_edits(text, [e for d in _non_overlapping(group) for e in d.fix.edits])
            if _parses(candidate, path):
                return candidate, _non_overlapping(group), []
        # no group parses as a whole: keep each fix that parses with those kept before it, refuse the rest
        kept, dropped, candidate = [], [], text
        for diagnostic in _non_overlapping(textual):
            attempt = apply_edits(text, [e for d in kept + [diagnostic] for e in d.fix.edits])
            if _parses(attempt, path):
                kept.append(diagnostic)
                candidate = attempt
            else:
                dropped.append((diagnostic, "the fixed text would not parse"))
        return candidate, kept, dropped
    # one rule's codemod per round: its positions are those of the text it was linted on
    codemods = [d for d in wanted if d.fix.is_codemod]
    context = FixContext(path, source.newline)
    dropped = []
    for code in sorted({d.code for d in codemods}):
        group = _by_code(codemods, code)
        candidate, problem = _codemod(engine, text, group, context)
        if problem is None and _parses(candidate, path):
            return candidate, group, dropped
        dropped += [(d, problem or "the fixed text would not parse") for d in group]
    return text, [], dropped


def _by_code(diagnostics: list[Diagnostic], code: str) -> list[Diagnostic]:
    return [d for d in diagnostics if d.code == code]


def _codemod(engine: Engine, text: str, diagnostics: list[Diagnostic], context: FixContext) -> tuple[str, str | None]:
    import libcst

    try:
        def rewrite() -> str:
            module = libcst.parse_module(text)
            for code in sorted({d.code for d in diagnostics}):
                module = engine.rule(code).apply_fixes(module, _by_code(diagnostics, code), context)
            return module.code

        return with_large_stack(rewrite), None
    except Exception as error:  # a fixer bug must never cost the user's file
        return text, f"the fix failed: {type(error).__name__}: {error}".splitlines()[0]


def _parses(text: str, path: str) -> bool:
    try:
        ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _non_overlapping(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    chosen, taken = [], []
    for diagnostic in sorted(diagnostics, key=lambda d: min((e.line, e.col) for e in d.fix.edits)):
        spans = [((e.line, e.col), (e.end_line, e.end_col)) for e in diagnostic.fix.edits]
        if any(start < t_end and t_start < end or start == t_start for start, end in spans for t_start, t_end in taken):
            continue
        chosen.append(diagnostic)
        taken += spans
    return chosen


def apply_edits(text: str, edits: list[Edit]) -> str:
    lines = split_lines(text, keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, col: int) -> int:
        if line > len(lines):
            return len(text)
        return starts[line - 1] + col

    for edit in sorted(edits, key=lambda e: (e.line, e.col), reverse=True):
        start, end = offset(edit.line, edit.col), offset(edit.end_line, edit.end_col)
        text = text[:start] + edit.content + text[end:]
    return text


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(split_lines(before, keepends=True), split_lines(after, keepends=True),
                                        fromfile=path, tofile=path))


class WriteRefused(Exception):
    """The file was left as it was; the message says why."""


def write_fixed(path: str, original: bytes, outcome: FixOutcome, project_root: str | None = None,
                written: Callable[[], None] | None = None) -> None:
    """Write atomically in the file's own encoding, BOM and newlines, unless it changed meanwhile.

    A symbolic link is kept: the file it leads to is rewritten, unless the link is inside
    `project_root` and the file is not (a checked repository's link must not make --fix write elsewhere). `written` is
    called once the file is in place, while Ctrl-C is still deferred."""
    source = outcome.source
    target = os.path.realpath(path)
    if project_root is not None and _leads_out(path, target, project_root):
        raise WriteRefused(f"it is a link to {target}, outside the project; not written through")
    try:
        data = outcome.text.encode(source.encoding)
    except UnicodeEncodeError as error:
        raise WriteRefused(f"the fixed text cannot be encoded as {source.encoding}: {error.reason}") from None
    if source.has_bom:
        data = b"\xef\xbb\xbf" + data
    try:
        status = os.stat(path)
        current = read_file_bytes(path)
    except OSError as error:
        raise WriteRefused(f"cannot read it again before writing: {error.strerror}") from None
    if current != original:
        raise WriteRefused("it changed on disk since it was read; not overwritten")
    if not status.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
        raise WriteRefused("it is read-only; not overwritten")
    directory = os.path.dirname(target)
    with _interruptions_deferred():
        try:
            fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tenantlint-tmp",
                                             dir=directory)
        except OSError as error:
            raise WriteRefused(f"cannot write in its folder {directory}: {error.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, stat.S_IMODE(status.st_mode))
            os.replace(temporary, target)
        except OSError as error:
            _remove(temporary)
            raise WriteRefused(f"cannot write it: {error.strerror}") from None
        except BaseException:
            _remove(temporary)
            raise
        if written is not None:
            written()


def _leads_out(path: str, target: str, project_root: str) -> bool:
    """Whether `path` is in the project but the file it names (through links) is not."""
    return (_inside(os.path.abspath(path), os.path.abspath(project_root))
            and not _inside(target, os.path.realpath(project_root)))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@contextlib.contextmanager
def _interruptions_deferred():
    """Ctrl-C and SIGTERM wait until the file is in place and counted (no temporary file left beside
    it, no fixed file left unnamed, however the timing falls); they are delivered right after. A
    Python-level handler defers them: a signal mask would not, since the kernel hands a process's
    signal to any thread not masking it (the worker pool's threads) and Python then raises in the
    main thread anyway. Off the main thread, the cleanup above still removes the temporary file."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) is not None:  # None: set outside Python, cannot be put back
            previous[number] = signal.signal(number, lambda signum, _frame: received.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in received:
            signal.raise_signal(number)


__all__ = ["FixAttempt", "FixOutcome", "check_and_fix", "InternalError", "WriteRefused", "apply_edits", "fix_source", "unified_diff", "write_fixed"]


def preview_edits(engine: Engine, path: str, source: SourceText, diagnostic: Diagnostic) -> tuple[Edit, ...]:
    """The edits one codemod fix would make, as whole-line replacements, for reports (JSON, SARIF)."""
    if not diagnostic.fix.is_codemod:
        return diagnostic.fix.edits
    after, problem = _codemod(engine, source.text, [diagnostic], FixContext(path, source.newline))
    if problem is not None:
        return ()
    before_lines, after_lines = split_lines(source.text, keepends=True), split_lines(after, keepends=True)
    edits = []
    matcher = difflib.SequenceMatcher(None, before_lines, after_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            edits.append(Edit(i1 + 1, 0, i2 + 1, 0, "".join(after_lines[j1:j2])))
    return tuple(edits)
