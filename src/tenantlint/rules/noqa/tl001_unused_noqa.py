"""TL001 unused-noqa: a `# noqa: TL...` code that suppresses nothing."""

from __future__ import annotations

import io
import re
import tokenize
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Edit, Location, Severity
from tenantlint.rules.base import Rule, register

_NOQA = re.compile(r"#\s*noqa:\s?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*)", re.IGNORECASE)
_CODE = re.compile(r"[A-Z]+[0-9]+", re.IGNORECASE)
# Python's tokenizer makes one comment token of everything from the first `#` to the end of the
# line, so what follows a directive's codes is either its reason (`--add-noqa --reason` writes
# `# noqa: TL201 tenancy audit, ticket 123`) or another comment chained after it (`# type: ignore`).
# Another comment starts at a `#` after whitespace; `#` before a digit (`ticket #123`) is the reason's.
_NEXT_COMMENT = re.compile(r"(?<=\s)#(?![0-9])")


@register
class UnusedNoqa(Rule):
    code = "TL001"
    name = "unused-noqa"
    summary = "a `# noqa: TL...` code that suppresses no finding"
    what = (
        "A `# noqa:` comment that lists a tenantlint code (of a rule that is enabled) for which "
        "there is no finding on that line. Opt in with `--extend-select TL001`."
    )
    why = (
        "Suppressions outlive the code they were written for. A stale `# noqa: TL201` on a line "
        "that later gains a real unscoped cache key hides it; removing unused codes keeps every "
        "suppression a deliberate, current decision."
    )
    avoids = (
        "Bare `# noqa` (it may silence other tools), codes of other tools (E501, F401), codes of "
        "rules that are not enabled in this run, and `noqa` text inside strings."
    )
    fix_description = "Remove the unused codes; remove the whole comment when no code is left."
    fix_safety = "safe"
    severity = Severity.INFO
    default_enabled = False
    reviews_suppressions = True
    example_filename = "settings.py"
    invalid = (
        """\
MIDDLEWARE = ["a.b.C"]  # noqa: TL302  # TL001
""",
    )
    valid = (
        """\
MIDDLEWARE = ["a.b.C"]  # noqa: E501
""",
    )

    def review(self, ctx, diagnostics: list[Diagnostic], enabled: set[str]) -> Iterator[Diagnostic]:
        if "noqa" not in ctx.source.text:
            return
        reported: dict[int, set[str]] = {}
        for diagnostic in diagnostics:
            reported.setdefault(diagnostic.line, set()).add(diagnostic.code)
        for token in _comments(ctx.source.text):
            match = _NOQA.search(token.string)
            if match is None:
                continue
            line, start = token.start
            listed = [(m.group().upper(), m.start(), m.end()) for m in _CODE.finditer(match.group("codes"))]
            here = reported.get(line, set())
            unused = [c for c in listed if c[0] in enabled and c[0] != self.code
                      and not any(code.startswith(c[0]) for code in here)]
            if not unused:
                continue
            codes_start = start + match.start("codes")
            kept = [c[0] for c in listed if c not in unused]
            if kept:
                edit = Edit(line, codes_start, line, start + match.end("codes"), ", ".join(kept))
            else:
                edit = _removal(ctx.lines[line - 1], token, match)
            names = ", ".join(c[0] for c in unused)
            yield self.diagnostic(
                Location(ctx.path, line, codes_start + unused[0][1], line, codes_start + unused[-1][2]),
                f"unused noqa directive for {names}: no such finding on this line",
                fix=self.fix(f"Remove unused noqa code {names}", [edit]),
            )


def _removal(text: str, token: tokenize.TokenInfo, match: re.Match) -> Edit:
    """Delete the directive with its reason, and nothing that is code: the edit is valid on its own.

    `x = 1  # noqa: TL201 reason` -> `x = 1`; `x = 1  # noqa: TL201 reason  # other` -> `x = 1  # other`.
    """
    line, start = token.start
    following = _NEXT_COMMENT.search(token.string, match.end("codes"))
    if following is not None:
        return Edit(line, start + match.start(), line, start + following.start(), "")
    before = text[:start + match.start()]
    return Edit(line, len(before.rstrip()), line, start + len(token.string), "")


def _comments(text: str):
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                yield token
    except (tokenize.TokenError, SyntaxError):
        return
