"""The default human format: each finding with its source line and a caret, via rich."""

from __future__ import annotations

from typing import TextIO

from tenantlint.diagnostics import Applicability, Diagnostic, Severity

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}


def render_full(diagnostics: list[Diagnostic], sources: dict[str, list[str]], stream: TextIO, color: bool | None,
                unsafe: bool = False, fixed: int | None = None, incomplete: bool = False) -> None:
    """`incomplete`: some paths could not be read, so "All checks passed!" would not be true."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=color, no_color=color is False)
    for diagnostic in diagnostics:
        style = _STYLE[diagnostic.severity]
        console.print(
            f"[bold]{escape(diagnostic.path)}[/]:{diagnostic.line}:{diagnostic.col + 1}: "
            f"[{style}]{diagnostic.code}[/]{escape(_fix_mark(diagnostic, unsafe))} {escape(diagnostic.message)}"
        )
        lines = sources.get(diagnostic.path, [])
        if 0 < diagnostic.line <= len(lines):
            text = lines[diagnostic.line - 1].expandtabs(1)
            gutter = str(diagnostic.line)
            pad = " " * len(gutter)
            end = diagnostic.end_col if diagnostic.end_line == diagnostic.line else len(text)
            text, col, end = _window(text, diagnostic.col, end)
            width = max(end - col, 1)
            console.print(f"[blue]{pad} |[/]")
            console.print(f"[blue]{gutter} |[/] {escape(text)}")
            console.print(f"[blue]{pad} |[/] {' ' * col}[{style}]{'^' * width}[/]")
        console.print()
    count = len(diagnostics)
    if fixed:
        console.print(f"Found {count + fixed} problem{'s' if count + fixed != 1 else ''} ({fixed} fixed, {count} remaining).")
    elif count:
        console.print(f"Found {count} problem{'s' if count != 1 else ''}.")
    elif incomplete:
        console.print("No problems found in the files that could be read.")
    else:
        console.print("[green]All checks passed![/]")
    available = sum(1 for d in diagnostics if _fix_mark(d, unsafe))
    hidden = sum(1 for d in diagnostics if d.fix and not _fix_mark(d, unsafe))
    if available:
        console.print(f"[*] {available} fixable with the `--fix` option{' and --unsafe-fixes' if unsafe else ''}.", markup=False)
    if hidden:
        console.print(f"{hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option.")


def _fix_mark(diagnostic: Diagnostic, unsafe: bool) -> str:
    fix = diagnostic.fix
    if fix is None or (fix.applicability is not Applicability.SAFE and not unsafe):
        return ""
    return " [*]"


SNIPPET_WIDTH = 160


def _window(text: str, col: int, end: int) -> tuple[str, int, int]:
    """At most about SNIPPET_WIDTH characters of a long line around the finding (a minified or
    generated line would otherwise be printed whole for each of its findings)."""
    if len(text) <= SNIPPET_WIDTH:
        return text, col, end
    start = max(0, col - SNIPPET_WIDTH // 4)
    stop = min(len(text), max(end, start + SNIPPET_WIDTH))
    stop = min(stop, start + SNIPPET_WIDTH * 2)
    head = "…" if start else ""
    tail = "…" if stop < len(text) else ""
    shift = start - len(head)
    return head + text[start:stop] + tail, col - shift, min(end, stop) - shift
