"""`[tool.tenantlint]` in pyproject.toml, merged with the command line."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields, replace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class ConfigError(Exception):
    """A configuration problem the user must fix; exit code 2."""


DEFAULT_AUDIT_FIELDS = ("created_by", "updated_by", "modified_by", "last_modified_by", "deleted_by", "owner", "user")
DEFAULT_TENANT_SCOPE_NAMES = ("schema_name", "tenant", "tenant_id", "tenant_schema", "schema", "tenant_name")
DEFAULT_TENANT_KEY_FUNCTIONS = ("django_tenants.cache.make_key",)
TENANCY_KINDS = ("schema", "row", "user", "none")  # tenantlint.model.tenancy.KINDS


@dataclass(frozen=True)
class Options:
    """Rule options; every field is a `[tool.tenantlint]` key with `_` spelt `-`."""

    tenant_claim: str = "tenant_schema"
    tenant_scope_names: tuple[str, ...] = DEFAULT_TENANT_SCOPE_NAMES
    tenant_key_functions: tuple[str, ...] = DEFAULT_TENANT_KEY_FUNCTIONS
    public_cache_keys: tuple[str, ...] = ()
    audit_fields: tuple[str, ...] = DEFAULT_AUDIT_FIELDS
    authenticator_bases: tuple[str, ...] = ()
    middleware_bases: tuple[str, ...] = ()
    tenant_middleware: tuple[str, ...] = ()
    tenant_from_user: bool = False
    tenancy: str = ""
    tenant_model: str = ""
    include_tests: bool = False


OPTION_HELP = {
    "tenant-claim": "name of the token claim that holds the tenant (TL501, TL502)",
    "tenant-scope-names": "names that make a cache key tenant-scoped (TL201)",
    "tenant-key-functions": "cache KEY_FUNCTIONs that already prefix keys per tenant (TL201)",
    "public-cache-keys": "glob patterns of cache keys that are deliberately shared by all tenants (TL201)",
    "audit-fields": "model fields that record who acted (TL401, TL402)",
    "authenticator-bases": "extra dotted base classes that make a class an authenticator (TL101, TL301)",
    "middleware-bases": "extra dotted base classes that make a class a middleware (TL101)",
    "tenant-middleware": "extra dotted classes that count as the tenant middleware (TL302, TL303)",
    "tenant-from-user": "the project derives its tenant from the user, so token tenant claims need no check (TL501)",
    "tenancy": "the tenancy model, when inference gets it wrong: schema, row, user or none (see `tenantlint project`)",
    "tenant-model": "the dotted or plain name of the tenant model (app.Model), when inference misses it",
    "include-tests": "also check test code (tests/, test_*.py, *_test.py, tests.py, conftest.py) for runtime leaks",
}


@dataclass
class Config:
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    extend_select: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] | None = None
    extend_exclude: list[str] = field(default_factory=list)
    settings_modules: list[str] = field(default_factory=list)
    options: Options = field(default_factory=Options)
    root: str = "."
    source: str | None = None


_LIST_KEYS = {"select", "ignore", "extend-select", "exclude", "extend-exclude", "settings-modules"}
_OPTION_FIELDS = {f.name.replace("_", "-"): f for f in fields(Options)}


def find_config_file(start: str) -> str | None:
    """The nearest pyproject.toml with a [tool.tenantlint] table, walking up from `start`."""
    current = os.path.abspath(start)
    if not os.path.isdir(current):
        current = os.path.dirname(current)
    while True:
        candidate = os.path.join(current, "pyproject.toml")
        if configures_tenantlint(candidate):
            return candidate
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def configures_tenantlint(candidate: str) -> bool:
    """Whether `candidate` is a pyproject.toml with a [tool.tenantlint] table."""
    if not os.path.isfile(candidate):
        return False
    try:
        with open(candidate, "rb") as handle:
            data = tomllib.load(handle)
    except OSError:
        return False
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"invalid TOML in {candidate}: {error}") from None
    return "tenantlint" in data.get("tool", {})


def load_config(path: str | None) -> Config:
    if path is None:
        return Config(root=os.getcwd())
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read configuration file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"invalid TOML in {path}: {error}") from None
    table = data.get("tool", {}).get("tenantlint", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.tenantlint] must be a table")
    return config_from_table(table, path)


def config_from_table(table: dict, source: str) -> Config:
    config = Config(root=os.path.dirname(os.path.abspath(source)), source=source)
    option_values = {}
    for key, value in table.items():
        if key in _LIST_KEYS:
            setattr(config, key.replace("-", "_"), _string_list(key, value, source))
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: 'per-file-ignores' must be a table of glob = [codes]")
            config.per_file_ignores = {glob: _string_list(f"per-file-ignores.{glob}", codes, source) for glob, codes in value.items()}
        elif key in _OPTION_FIELDS:
            option_values[_OPTION_FIELDS[key].name] = _option_value(key, value, source)
        else:
            raise ConfigError(f"{source}: unknown key '{key}' in [tool.tenantlint]")
    config.options = replace(Options(), **option_values)
    return config


def _string_list(key: str, value, source: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{source}: '{key}' must be a list of strings")
    return list(value)


def _option_value(key: str, value, source: str):
    default = getattr(Options(), _OPTION_FIELDS[key].name)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{key}' must be true or false")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a string")
        if key == "tenancy" and value not in ("", *TENANCY_KINDS):
            raise ConfigError(f"{source}: 'tenancy' must be one of {', '.join(TENANCY_KINDS)}")
        return value
    return tuple(_string_list(key, value, source))


DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".bzr", ".venv", "venv", ".tox", ".nox", "__pycache__", "node_modules",
    "build", "dist", ".eggs", "*.egg-info", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".tenantlint_cache", "site-packages", "__pypackages__", "_build", "buck-out", ".direnv",
    ".ipynb_checkpoints",
)
