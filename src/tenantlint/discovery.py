"""Which files `tenantlint check PATHS` looks at: *.py below the paths, minus excludes and .gitignore."""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field

from tenantlint.config import DEFAULT_EXCLUDE, Config
from tenantlint.sourcefile import file_stamp


@dataclass
class Discovery:
    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # stamps of every folder walked and every .gitignore read: while they hold, the result holds
    watched: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # folders not listed, and why


def discover_remembered(paths: list[str], config: Config, force_exclude: bool, folder: str) -> Discovery:
    """`discover`, reusing the last result kept in `folder` while no walked folder and no .gitignore
    changed (a folder's mtime changes when an entry is added, removed or renamed). The memo is JSON
    read as data (see `tenantlint.cache`): a file tenantlint did not write is ignored and rebuilt."""
    from tenantlint import __version__
    from tenantlint.store import StoreError, ignored_store, read_store, write_store

    key = [__version__, [os.path.abspath(p) for p in paths], None if config.exclude is None else list(config.exclude),
           list(config.extend_exclude), config.root, force_exclude]
    try:
        saved = read_store(folder, _MEMO_FILE, key)
        if saved is not None:
            remembered = _check_memo(saved)
            if all(file_stamp(path) == stamp for path, stamp in remembered.watched.items()):
                remembered.missing = [p for p in paths if not os.path.lexists(p)]
                return remembered
    except StoreError as problem:
        ignored_store(folder, _MEMO_FILE, problem)
    found = discover(paths, config, force_exclude)
    if os.path.isdir(folder) and not found.unreadable:  # a folder made readable keeps its mtime: walk it again
        write_store(folder, _MEMO_FILE, key, {"files": found.files, "watched": {
            path: list(stamp) if stamp else None for path, stamp in found.watched.items()}})
    return found


_MEMO_FILE = "discovery.json"


def _check_memo(saved) -> Discovery:
    from tenantlint.store import StoreError, check_stamps

    if not (isinstance(saved, dict) and isinstance(saved.get("files"), list)
            and all(isinstance(f, str) for f in saved["files"])):
        raise StoreError("not a tenantlint discovery memo")
    return Discovery(saved["files"], [], check_stamps(saved.get("watched"), "folder stamps"))


# a pattern that only names a file or folder, at any depth: `build`, `*.egg-info`, `__pycache__/`
_NAME_ONLY = re.compile(r"(?!.*\*\*)[\w.*?-]+/?")


class Patterns:
    """gitignore-style patterns, asked about every entry of the walk.

    Patterns that only name a file or folder are matched against the path's last part in one
    regular expression; the others (and every pattern of a list with a negation, where order
    matters) go to pathspec, which is imported only then.
    """

    def __init__(self, lines: list[str], gitignore_file: bool = False):
        lines = [line for line in lines if line.strip() and not line.startswith("#")]
        negated = any(line.startswith("!") for line in lines)
        simple = [] if negated else [line for line in lines if _NAME_ONLY.fullmatch(line)]
        rest = [line for line in lines if line not in simple]
        self._names = _names_regex([line for line in simple if not line.endswith("/")])
        self._folders = _names_regex([line[:-1] for line in simple if line.endswith("/")])
        self._spec = None
        if rest:
            import pathspec

            self._spec = (pathspec.GitIgnoreSpec.from_lines(rest) if gitignore_file
                          else pathspec.PathSpec.from_lines("gitignore", rest))

    def match(self, relative: str, is_dir: bool) -> bool:
        """Whether `relative` ('/'-separated, from the patterns' folder) is matched; its parents are not
        looked at (the walk never enters a matched folder)."""
        name = relative.rpartition("/")[2]
        if (self._names and self._names.match(name)) or (is_dir and self._folders and self._folders.match(name)):
            return True
        return self._spec is not None and self._spec.match_file(relative + ("/" if is_dir else ""))


def _names_regex(patterns: list[str]) -> re.Pattern | None:
    return re.compile("|".join(fnmatch.translate(p) for p in patterns)) if patterns else None


def _exclude_patterns(config: Config) -> Patterns:
    return Patterns(list(DEFAULT_EXCLUDE if config.exclude is None else config.exclude) + list(config.extend_exclude))


def discover(paths: list[str], config: Config, force_exclude: bool = False) -> Discovery:
    """Files below `paths`; named files are checked even if excluded, unless `force_exclude` (pre-commit)."""
    found = Discovery()
    excluded = _exclude_patterns(config)
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
            for file, key in _walk(path, config, excluded, found):
                add(file, key)
        elif not (force_exclude and _excluded_file(path, config, excluded)):
            add(path)  # named explicitly: checked even if a pattern would exclude it, as ruff does
    return found


def _excluded_file(path: str, config: Config, excluded: Patterns) -> bool:
    return _excluded_parts(_relative(path, config.root), excluded, False)


def _excluded_parts(relative: str, excluded: Patterns, is_dir: bool) -> bool:
    """Whether `relative` (from the configuration's folder) or a folder it is in is excluded."""
    if relative == ".":
        return False
    parts = relative.split("/")
    return any(excluded.match("/".join(parts[: i + 1]), is_dir or i < len(parts) - 1) for i in range(len(parts)))


def _relative(path: str, root: str) -> str:
    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")


def _walk(top: str, config: Config, excluded: Patterns, found: Discovery):
    """Yield (path, real path) of each Python file below `top`.

    Paths relative to `top` and to each .gitignore's folder are built as the walk
    descends, so no entry costs a `relpath` or `realpath` (this runs on every file).
    Excludes are anchored at the configuration's folder (`backend/tests` means the same
    folder whether `.`, `backend` or `backend/app` is checked, from wherever).
    """
    watched = found.watched
    top_abs = os.path.abspath(top)
    anchor = _relative(top_abs, config.root)
    outside = anchor == ".." or anchor.startswith("../")
    # a folder named on the command line is checked even if excluded, and so is what is below it
    anchor = "" if outside or _excluded_parts(anchor, excluded, True) else _prefix(anchor)
    # (spec, what to put before and what to strip from a path relative to `top` to make it
    # relative to the spec's own folder)
    ignores: list[tuple[Patterns, str, str]] = [
        (spec, _prefix(_relative(top_abs, base)), "") for base, spec in _parent_gitignores(top, watched)]
    visited: set[tuple[int, int]] = set()

    def ignored(relative: str, is_dir: bool) -> bool:
        """Excludes apply below the folder the user named: `check .venv/lib/x` checks x."""
        if excluded.match(anchor + relative, is_dir):
            return True
        return any(spec.match(add + relative[len(strip):], is_dir) for spec, add, strip in ignores)

    def walk(directory: str, relative: str, real: str):
        try:
            status = os.stat(directory)
        except OSError as error:
            found.unreadable.append((directory, error.strerror or str(error)))
            return
        if (status.st_dev, status.st_ino) in visited:  # a symlink loop
            return
        visited.add((status.st_dev, status.st_ino))
        watched[directory] = (status.st_size, status.st_mtime_ns)
        folders, files, markers = [], [], {}
        try:
            with os.scandir(directory) as listing:
                for entry in listing:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    if is_dir:
                        folders.append(entry)
                    elif entry.name.endswith((".py", ".pyi")):
                        files.append(entry)
                    elif entry.name in (".gitignore", "pyvenv.cfg") and entry.is_file():
                        markers[entry.name] = entry.path
        except OSError as error:
            found.unreadable.append((directory, error.strerror or str(error)))
            return
        if relative and "pyvenv.cfg" in markers:
            return  # a virtual environment below the folder named
        pushed = ".gitignore" in markers
        if pushed:
            watched[markers[".gitignore"]] = file_stamp(markers[".gitignore"])
            ignores.append((_read_gitignore(markers[".gitignore"]), "", relative))
        for entry in sorted(files, key=_name):
            if not ignored(relative + entry.name, False):
                # the folder's real path is known: only a linked file needs its own
                yield entry.path, os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real, entry.name)
        for entry in sorted(folders, key=_name):
            child = relative + entry.name
            if not ignored(child, True):
                real_child = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real, entry.name)
                yield from walk(entry.path, child + "/", real_child)
        if pushed:
            ignores.pop()

    yield from walk(top, "", os.path.realpath(top))


def _name(entry: os.DirEntry) -> str:
    return entry.name


def _prefix(relative: str) -> str:
    return "" if relative == "." else relative + "/"


def _read_gitignore(path: str) -> Patterns:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return Patterns(handle.read().splitlines(), gitignore_file=True)
    except OSError:
        return Patterns([])


def _parent_gitignores(top: str, watched: dict) -> list[tuple[str, Patterns]]:
    """The .gitignore files above `top`, up to the repository root, so `check sub/` honours them."""
    found = []
    current = os.path.dirname(os.path.abspath(top))
    while True:
        gitignore = os.path.join(current, ".gitignore")
        watched[current] = file_stamp(current)  # a .gitignore appearing here changes the folder
        if os.path.isfile(gitignore):
            watched[gitignore] = file_stamp(gitignore)
            spec = _read_gitignore(gitignore)
            # a folder the user names is checked even if ignored: the ignore file then says nothing below it
            if not _named_folder_ignored(spec, _relative(top, current)):
                found.append((current, spec))
        if os.path.exists(os.path.join(current, ".git")):
            break
        parent = os.path.dirname(current)
        if parent == current:
            return []  # not in a repository: parents' .gitignore files do not apply
        current = parent
    return list(reversed(found))


def _named_folder_ignored(spec: Patterns, relative: str) -> bool:
    """Whether the ignore file ignores the named folder, or a folder it is in."""
    parts = relative.split("/")
    return any(spec.match("/".join(parts[: i + 1]), True) for i in range(len(parts)))
