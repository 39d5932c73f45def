"""Every use of one cache key, fixed alike or not at all.

A key is written in one place and read, removed or scanned for in others, often spelled differently
(`f"{presence_key}:{user_id}"` and `f"doc_presence:{doc}:{user}"`). The fix puts the schema in front
of every key it rewrites, so two rewritten spellings still meet; a use it does not rewrite would not:
a use with no fix (in async code, built in another module), or a call the fix never touches (a
django-redis `keys("doc_presence:*")` scan, a `ttl(key)`). So within a module, the uses of one key
(same literal text, whatever fills its variable parts) are settled together: one use without a fix
takes the fix from all of them; a call that reaches the key untouched makes their fix unsafe.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace

from tenantlint.diagnostics import Applicability, Severity
from tenantlint.rules.cache.key_shapes import Built, KeyFix

# django-redis calls that find keys by a glob of their text
SCAN_METHODS = frozenset({"keys", "iter_keys", "delete_pattern"})
# calls that take a key but that the fix does not rewrite (django-redis, and Django's key versions)
UNTOUCHED_KEY_METHODS = frozenset({"ttl", "pttl", "expire", "expire_at", "pexpire", "pexpire_at", "persist",
                                   "lock", "incr_version", "decr_version"})


@dataclass(frozen=True)
class KeyUse:
    """One cache call using a key built without the tenant, as TL201's `visit` judged it."""

    built: Built
    site: ast.expr  # where the finding is reported: the expression that builds the key
    argument: ast.expr
    func: ast.Attribute
    severity: Severity | None
    fix: KeyFix | None
    reason: str  # why no fix is offered, or why it is unsafe, when that needs saying


@dataclass(frozen=True)
class UntouchedUse:
    """A call that reaches keys by their text and that no fix rewrites: a scan's glob or a key."""

    text: str  # the scan's literal text up to its first wildcard or computed part, or the key's identity
    is_scan: bool
    call: ast.Call
    snippet: str


def identity(built: Built) -> str | None:
    """What every spelling of one key has in common: its literal text, each computed part a `{}`; None
    for a key with no text of its own (`f"{a}:{b}"` says nothing of what it is)."""
    if not built.has_text():
        return None
    return "".join(piece if isinstance(piece, str) else "{}" for piece in built.pieces)


def scan_head(built: Built) -> str:
    """A scan's literal text before its first wildcard or computed part."""
    head = []
    for piece in built.pieces:
        if not isinstance(piece, str):
            break
        head.append(piece.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0])
        if head[-1] != piece:
            break
    return "".join(head)


def settle(uses: list[KeyUse], untouched: list[UntouchedUse]) -> list[KeyUse]:
    """The uses with their fixes settled key by key (see the module's docstring)."""
    groups: dict[str, list[int]] = {}
    for index, use in enumerate(uses):
        key = identity(use.built)
        if key is not None:
            groups.setdefault(key, []).append(index)
    settled = list(uses)
    for key, members in groups.items():
        unfixable = next((uses[i] for i in members if uses[i].fix is None), None)
        if unfixable is not None:
            reason = (f"; no fix offered: the same key is also used by {unfixable.func.attr} on line "
                      f"{unfixable.argument.lineno}, which cannot be fixed, and fixing only some of its uses would "
                      "separate them")
            for i in members:
                if settled[i].fix is not None:
                    settled[i] = replace(settled[i], fix=None, reason=reason)
            continue
        reaching = next((u for u in untouched if _reaches(u, key)), None)
        if reaching is None:
            continue
        reason = (f"; the fix is unsafe: {reaching.snippet} (line {reaching.call.lineno}) reaches this key by its "
                  "text and is not rewritten")
        for i in members:
            settled[i] = replace(settled[i], fix=replace(settled[i].fix, applicability=Applicability.UNSAFE),
                                 reason=settled[i].reason or reason)
    return settled


def _reaches(use: UntouchedUse, key: str) -> bool:
    if use.is_scan:
        return bool(use.text) and (key.startswith(use.text) or use.text.startswith(key.split("{}", 1)[0]))
    return use.text == key
