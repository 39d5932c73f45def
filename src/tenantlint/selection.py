"""Which rules run: select / extend-select / ignore / per-file-ignores, the most specific prefix winning."""

from __future__ import annotations

import os
from functools import lru_cache

import pathspec

from tenantlint.config import Config
from tenantlint.rules import all_rules

ALL = "ALL"


def code_matches(code: str, selector: str) -> bool:
    return selector == ALL or code.startswith(selector)


def _specificity(code: str, selectors: list[str]) -> int:
    matches = [0 if s == ALL else len(s) for s in selectors if code_matches(code, s)]
    return max(matches) if matches else -1


def enabled_codes(config: Config) -> set[str]:
    enabled = set()
    for rule in all_rules():
        chosen = _specificity(rule.code, (config.select or []) + config.extend_select)
        if chosen < 0 and config.select is None and rule.default_enabled:
            chosen = 0
        if chosen >= 0 and chosen > _specificity(rule.code, config.ignore):
            enabled.add(rule.code)
    return enabled


def known_selector(selector: str) -> bool:
    if selector == ALL:
        return True
    return selector == "TL000" or any(rule.code.startswith(selector) for rule in all_rules())


@lru_cache(maxsize=256)
def _spec(pattern: str) -> pathspec.PathSpec:
    return pathspec.PathSpec.from_lines("gitignore", [pattern])


def per_file_ignored(config: Config, path: str, code: str) -> bool:
    if not config.per_file_ignores:
        return False
    relative = os.path.relpath(os.path.abspath(path), config.root).replace(os.sep, "/")
    for pattern, codes in config.per_file_ignores.items():
        if any(code_matches(code, c) for c in codes) and _spec(pattern).match_file(relative):
            return True
    return False
