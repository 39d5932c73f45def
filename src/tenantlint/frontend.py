"""What the flake8 and pylint adapters share: one engine per project root, configured from pyproject."""

from __future__ import annotations

import functools
import os
from dataclasses import replace

from tenantlint.config import Config, ConfigError, configures_tenantlint, load_config
from tenantlint.engine import Engine
from tenantlint.model.project import Project
from tenantlint.results import FileResult
from tenantlint.sourcefile import SourceText

_ENGINES: dict[tuple, Engine] = {}


@functools.lru_cache(maxsize=4096)
def _config_file_for(folder: str) -> str | None:
    """`find_config_file`, memoised per folder and so per parent folder too: flake8 and pylint hand
    files over one by one, and every folder would otherwise read the same pyproject.toml files above it."""
    candidate = os.path.join(folder, "pyproject.toml")
    if configures_tenantlint(candidate):
        return candidate
    parent = os.path.dirname(folder)
    return None if parent == folder else _config_file_for(parent)


def engine_for(filename: str, option_overrides: dict | None = None, apply_noqa: bool = True) -> Engine:
    """The engine for a file's project, built once per process (class facts are reused across files)."""
    config_path = _config_file_for(os.path.dirname(os.path.abspath(filename)) or ".")
    overrides = tuple(sorted((option_overrides or {}).items()))
    key = (config_path, overrides, apply_noqa)
    engine = _ENGINES.get(key)
    if engine is None:
        try:
            config = load_config(config_path)
        except ConfigError:
            config = Config(root=os.path.dirname(config_path) if config_path else os.getcwd())
        if option_overrides:
            config.options = replace(config.options, **option_overrides)
        files = [os.path.join(config.root, m) for m in config.settings_modules]
        engine = Engine(config, Project(files, [config.root]), files=files, apply_noqa=apply_noqa)
        _ENGINES[key] = engine
    return engine


def check_one_file(engine: Engine, filename: str, text: str | None = None, tree=None) -> FileResult:
    """Lint one file as a host tool hands it over: its decoded text and tree, or only its path."""
    engine.settings.add_candidate(filename)
    if text is None:
        return engine.check_path(filename)
    return engine.check_text(filename, SourceText(text, "utf-8", False), tree=tree)
