"""Which files `tenantlint check PATHS` looks at: *.py below the paths, minus excludes and .gitignore."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tenantlint.config import Config

if TYPE_CHECKING:
    import pathspec

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
    # stamps of every folder walked and every .gitignore read: while they hold, the result holds
    watched: dict[str, tuple[int, int] | None] = field(default_factory=dict)


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


def discover_remembered(paths: list[str], config: Config, force_exclude: bool, folder: str) -> Discovery:
    """`discover`, reusing the last result kept in `folder` while no walked folder and no .gitignore
    changed (a folder's mtime changes when an entry is added, removed or renamed)."""
    from tenantlint import __version__

    key = (__version__, tuple(os.path.abspath(p) for p in paths), config.exclude, tuple(config.extend_exclude),
           config.root, force_exclude)
    store = os.path.join(folder, "discovery.pickle")
    try:
        with open(store, "rb") as handle:
            saved_key, saved = pickle.load(handle)
        if saved_key == key and all(_stamp(path) == stamp for path, stamp in saved.watched.items()):
            saved.missing = [p for p in paths if not os.path.lexists(p)]
            return saved
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, ImportError):
        pass
    found = discover(paths, config, force_exclude)
    if os.path.isdir(folder):
        try:
            with open(store, "wb") as handle:
                pickle.dump((key, found), handle, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError:
            pass
    return found


def _exclude_spec(config: Config) -> "pathspec.PathSpec":
    import pathspec

    patterns = list(DEFAULT_EXCLUDE if config.exclude is None else config.exclude) + list(config.extend_exclude)
    return pathspec.PathSpec.from_lines("gitignore", patterns)


def discover(paths: list[str], config: Config, force_exclude: bool = False) -> Discovery:
    """Files below `paths`; named files are checked even if excluded, unless `force_exclude` (pre-commit)."""
    found = Discovery()
    excluded = _exclude_spec(config)
    seen: set[str] = set()

    def add(path: str, key: str | None = None) -> None:
        key = key or os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            found.files.append(os.path.normpath(path))

    for path in paths:
        if not os.path.lexists(path):
            found.missing.append(path)
        elif os.path.isdir(path):
            for file, key in _walk(path, config, excluded, found.watched):
                add(file, key)
        elif not (force_exclude and _excluded_file(path, config, excluded)):
            add(path)  # named explicitly: checked even if a pattern would exclude it, as ruff does
    return found


def _excluded_file(path: str, config: Config, excluded: "pathspec.PathSpec") -> bool:
    relative = _relative(path, config.root)
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) + ("/" if i < len(parts) - 1 else "") for i in range(len(parts))]
    return any(excluded.match_file(c) for c in candidates) or any(excluded.match_file(p + "/") for p in parts[:-1])


def _relative(path: str, root: str) -> str:
    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")


def _walk(top: str, config: Config, excluded: "pathspec.PathSpec", watched: dict):
    """Yield (path, real path) of each Python file below `top`.

    Paths relative to `top` and to each .gitignore's folder are built as the walk
    descends, so no entry costs a `relpath` or `realpath` (this runs on every file).
    """
    top_abs = os.path.abspath(top)
    # (spec, what to put before and what to strip from a path relative to `top` to make it
    # relative to the spec's own folder)
    ignores: list[tuple[pathspec.PathSpec, str, str]] = [
        (spec, _prefix(_relative(top_abs, base)), "") for base, spec in _parent_gitignores(top, watched)]
    visited: set[tuple[int, int]] = set()

    def ignored(relative: str, is_dir: bool) -> bool:
        """Excludes apply below the folder the user named: `check .venv/lib/x` checks x."""
        suffix = "/" if is_dir else ""
        if excluded.match_file(relative + suffix):
            return True
        return any(spec.match_file(add + relative[len(strip):] + suffix) for spec, add, strip in ignores)

    def walk(directory: str, relative: str, real: str):
        try:
            status = os.stat(directory)
        except OSError:
            return
        if (status.st_dev, status.st_ino) in visited:  # a symlink loop
            return
        visited.add((status.st_dev, status.st_ino))
        watched[directory] = (status.st_size, status.st_mtime_ns)
        pushed = False
        gitignore = os.path.join(directory, ".gitignore")
        if os.path.isfile(gitignore):
            watched[gitignore] = _stamp(gitignore)
            ignores.append((_read_gitignore(gitignore), "", relative))
            pushed = True
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            entries = []
        for entry in entries:
            child = f"{relative}{entry.name}"
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if ignored(child, True) or os.path.isfile(os.path.join(entry.path, "pyvenv.cfg")):
                    continue
                real_child = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real, entry.name)
                yield from walk(entry.path, child + "/", real_child)
            elif entry.name.endswith((".py", ".pyi")) and not ignored(child, False):
                # the folder's real path is known: only a linked file needs its own
                yield entry.path, os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real, entry.name)
        if pushed:
            ignores.pop()

    yield from walk(top, "", os.path.realpath(top))


def _prefix(relative: str) -> str:
    return "" if relative == "." else relative + "/"


def _read_gitignore(path: str) -> "pathspec.PathSpec":
    import pathspec

    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return pathspec.GitIgnoreSpec.from_lines(handle.read().splitlines())
    except OSError:
        return pathspec.GitIgnoreSpec.from_lines([])


def _parent_gitignores(top: str, watched: dict) -> list[tuple[str, "pathspec.PathSpec"]]:
    """The .gitignore files above `top`, up to the repository root, so `check sub/` honours them."""
    found = []
    current = os.path.dirname(os.path.abspath(top))
    while True:
        gitignore = os.path.join(current, ".gitignore")
        watched[current] = _stamp(current)  # a .gitignore appearing here changes the folder
        if os.path.isfile(gitignore):
            watched[gitignore] = _stamp(gitignore)
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
