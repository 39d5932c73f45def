"""Which files `tenantlint check PATHS` looks at: *.py below the paths, minus excludes and .gitignore."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pathspec

from tenantlint.config import Config

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".bzr", ".venv", "venv", ".tox", ".nox", "__pycache__", "node_modules",
    "build", "dist", ".eggs", "*.egg-info", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".tenantlint_cache", "site-packages", "__pypackages__", "_build", "buck-out", ".direnv",
    ".ipynb_checkpoints",
)


@dataclass
class Discovery:
    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _exclude_spec(config: Config) -> pathspec.PathSpec:
    patterns = list(DEFAULT_EXCLUDE if config.exclude is None else config.exclude) + list(config.extend_exclude)
    return pathspec.PathSpec.from_lines("gitignore", patterns)


def discover(paths: list[str], config: Config, force_exclude: bool = False) -> Discovery:
    """Files below `paths`; named files are checked even if excluded, unless `force_exclude` (pre-commit)."""
    found = Discovery()
    excluded = _exclude_spec(config)
    seen: set[str] = set()

    def add(path: str) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            found.files.append(os.path.normpath(path))

    for path in paths:
        if not os.path.lexists(path):
            found.missing.append(path)
        elif os.path.isdir(path):
            for file in _walk(path, config, excluded):
                add(file)
        elif not (force_exclude and _excluded_file(path, config, excluded)):
            add(path)  # named explicitly: checked even if a pattern would exclude it, as ruff does
    return found


def _excluded_file(path: str, config: Config, excluded: pathspec.PathSpec) -> bool:
    relative = _relative(path, config.root)
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) + ("/" if i < len(parts) - 1 else "") for i in range(len(parts))]
    return any(excluded.match_file(c) for c in candidates) or any(excluded.match_file(p + "/") for p in parts[:-1])


def _relative(path: str, root: str) -> str:
    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")


def _walk(top: str, config: Config, excluded: pathspec.PathSpec):
    ignores: list[tuple[str, pathspec.PathSpec]] = _parent_gitignores(top)
    visited: set[str] = set()
    top_abs = os.path.abspath(top)

    def ignored(path: str, is_dir: bool) -> bool:
        """Excludes apply below the folder the user named: `check .venv/lib/x` checks x."""
        suffix = "/" if is_dir else ""
        if excluded.match_file(_relative(path, top_abs) + suffix):
            return True
        for base, spec in ignores:
            rel = _relative(path, base)
            if not rel.startswith("../") and spec.match_file(rel + suffix):
                return True
        return False

    def walk(directory: str):
        real = os.path.realpath(directory)
        if real in visited:  # a symlink loop
            return
        visited.add(real)
        gitignore = os.path.join(directory, ".gitignore")
        pushed = False
        if os.path.isfile(gitignore):
            ignores.append((os.path.abspath(directory), _read_gitignore(gitignore)))
            pushed = True
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            entries = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if ignored(entry.path, True) or os.path.isfile(os.path.join(entry.path, "pyvenv.cfg")):
                    continue
                yield from walk(entry.path)
            elif entry.name.endswith((".py", ".pyi")) and not ignored(entry.path, False):
                yield entry.path
        if pushed:
            ignores.pop()

    yield from walk(top)


def _read_gitignore(path: str) -> pathspec.PathSpec:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return pathspec.GitIgnoreSpec.from_lines(handle.read().splitlines())
    except OSError:
        return pathspec.GitIgnoreSpec.from_lines([])


def _parent_gitignores(top: str) -> list[tuple[str, pathspec.PathSpec]]:
    """The .gitignore files above `top`, up to the repository root, so `check sub/` honours them."""
    found = []
    current = os.path.dirname(os.path.abspath(top))
    while True:
        gitignore = os.path.join(current, ".gitignore")
        if os.path.isfile(gitignore):
            spec = _read_gitignore(gitignore)
            # a folder the user names is checked even if ignored: the ignore file then says nothing below it
            if not spec.match_file(_relative(top, current) + "/"):
                found.append((current, spec))
        if os.path.exists(os.path.join(current, ".git")):
            break
        parent = os.path.dirname(current)
        if parent == current:
            return []  # not in a repository: parents' .gitignore files do not apply
        current = parent
    return list(reversed(found))
