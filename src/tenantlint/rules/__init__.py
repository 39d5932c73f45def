"""The rule catalogue: every module `tlNNN_<name>.py` of a family package (`rules/<family>/`) holds one
rule and registers it."""

from __future__ import annotations

import importlib
import pkgutil
import re

from tenantlint.rules.base import Rule, register, registered

_RULE_MODULE = re.compile(r"^tl\d{3}_\w+$")

for _family in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    if not _family.ispkg:
        continue
    _package = importlib.import_module(f"{__name__}.{_family.name}")
    for _info in sorted(pkgutil.iter_modules(_package.__path__), key=lambda info: info.name):
        if _RULE_MODULE.match(_info.name):
            importlib.import_module(f"{_package.__name__}.{_info.name}")


def all_rules() -> list[type[Rule]]:
    return list(registered())


def rule_by_code(code: str) -> type[Rule] | None:
    return next((rule for rule in registered() if rule.code == code.upper() or rule.name == code), None)


__all__ = ["Rule", "all_rules", "register", "rule_by_code"]
