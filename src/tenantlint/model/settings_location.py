"""Where a project's settings are, found as Django finds them, from any path inside the project.

Django runs the module that `DJANGO_SETTINGS_MODULE` names: `manage.py`, `wsgi.py`, `asgi.py`, the
Celery app module and the pytest configuration set it. So those files are read first (as data:
their syntax tree, or the ini and TOML tables), then files whose names look like settings. The
search starts from the project root, not from the files being checked, so that a file checked
alone (pre-commit, an editor, flake8) sees the same settings as the full run.
"""

from __future__ import annotations

import ast
import configparser
import functools
import os
import re
import sys
from dataclasses import dataclass

from tenantlint.config import DEFAULT_EXCLUDE, ConfigError, configures_tenantlint
from tenantlint.model.project import source_root
from tenantlint.model.test_code import is_test_code
from tenantlint.sourcefile import file_stamp

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

LAUNCHER_NAMES = ("manage.py", "wsgi.py", "asgi.py")
_CELERY_NAME = re.compile(r"(?:.*_)?celery(?:_app)?\.py$")
PYTEST_FILES = ("pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml")
_DS_OPTION = re.compile(r"--ds[= ]\s*(?P<module>[\w.]+)")
_DC_OPTION = re.compile(r"--dc[= ]\s*(?P<name>\w+)")
_MAX_LAUNCHER_BYTES = 1 << 20
_MAX_FOLDERS = 50_000
# gettext catalogs (`locale/<lang>/LC_MESSAGES/*.po`) hold no Python: Django alone has 1,130 such folders
_SKIPPED_FOLDERS = frozenset(name for name in DEFAULT_EXCLUDE if "*" not in name) | {"LC_MESSAGES"}


@dataclass(frozen=True)
class Declaration:
    """`DJANGO_SETTINGS_MODULE` (and django-configurations' `DJANGO_CONFIGURATION`) as one file sets them."""

    module: str
    configuration: str | None
    source: str  # the file that sets it
    line: int
    path: str | None  # the settings module's file, when it is in the project
    import_root: str | None = None  # the folder on `sys.path` it was found from


@dataclass(frozen=True)
class SettingsLocation:
    root: str
    declarations: tuple[Declaration, ...]
    by_name: tuple[str, ...]  # files that look like settings by their name
    python_files: tuple[str, ...] = ()  # every Python file below the root (for the tenancy's model scan)

    @property
    def paths(self) -> list[str]:
        declared = [d.path for d in self.declarations if d.path]
        return list(dict.fromkeys([*declared, *self.by_name]))

    manage_folders: tuple[str, ...] = ()

    def scope_for(self, path: str) -> str:
        """The code a settings module governs: the folder its dotted name was found from, else the
        nearest folder above it with `manage.py`, else the top of its package tree."""
        for declaration in self.declarations:
            if declaration.path == path and declaration.import_root:
                return declaration.import_root
        folder = os.path.dirname(path)
        holding = [m for m in self.manage_folders if folder == m or folder.startswith(m.rstrip(os.sep) + os.sep)]
        return max(holding, key=len) if holding else source_root(folder)

    def configurations(self, path: str) -> set[str]:
        """The django-configurations classes declared for a settings module."""
        return {d.configuration for d in self.declarations if d.path == path and d.configuration}


def search_root(path: str, config) -> str:
    """The folder the settings search starts from: the configuration file's folder when the path is
    below it; else the nearest folder upward with a tenantlint configuration or `.git` (the
    repository), else the nearest one with `manage.py`, else the top of the path's source tree (the
    first folder upward that is not a package)."""
    start = os.path.abspath(path)
    folder = start if os.path.isdir(start) else os.path.dirname(start)
    root = os.path.abspath(config.root)
    if config.source and (folder == root or folder.startswith(root.rstrip(os.sep) + os.sep)):
        return root
    return _marked_root(folder) or source_root(folder)


@functools.lru_cache(maxsize=4096)
def _marked_root(folder: str) -> str | None:
    manage = None
    current = folder
    while True:
        if os.path.exists(os.path.join(current, ".git")) or _configured(current):
            return current
        if manage is None and os.path.isfile(os.path.join(current, "manage.py")):
            manage = current
        parent = os.path.dirname(current)
        if parent == current:
            return manage
        current = parent


def _configured(folder: str) -> bool:
    try:
        return configures_tenantlint(os.path.join(folder, "pyproject.toml"))
    except ConfigError:  # the command that loads it reports it; here it only marks a root
        return True


def locate_settings(root: str, matches_settings_name, skipped: tuple[str, ...] = (),
                    watched: dict[str, tuple[int, int] | None] | None = None) -> SettingsLocation:
    """Every settings module below `root`: declared ones first, then those found by name. `watched`, when
    given, receives the stamps of the folders listed and the files read: while they hold, so does this."""
    launchers, pytest_configs, by_name, manage_folders, python_files = [], [], [], [], []
    skip = _SKIPPED_FOLDERS | set(skipped)
    pending, seen = [root], 0
    while pending and seen < _MAX_FOLDERS:
        folder = pending.pop()
        seen += 1
        if watched is not None:
            watched[folder] = file_stamp(folder)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not name.startswith(".") and name not in skip:
                        pending.append(entry.path)
                    continue
                if not entry.is_file():  # a linked file counts, as in the walk of the checked files
                    continue
            except OSError:
                continue
            if name in LAUNCHER_NAMES or _CELERY_NAME.match(name):
                launchers.append(entry.path)
                if name == "manage.py":
                    manage_folders.append(folder)
            if name.endswith(".py"):
                python_files.append(entry.path)
                # a test module named like settings (test_settings_facts.py) counts only when declared
                if matches_settings_name(os.path.relpath(entry.path, root).replace(os.sep, "/")) \
                        and not is_test_code(entry.path):
                    by_name.append(entry.path)
            if name in PYTEST_FILES:
                pytest_configs.append(entry.path)
    if watched is not None:
        watched.update((path, file_stamp(path)) for path in (*launchers, *pytest_configs))
    declarations = []
    for launcher in sorted(launchers):
        declarations += _python_declarations(launcher, manage_folders, root)
    for config in sorted(pytest_configs):
        declarations += _pytest_declarations(config, manage_folders, root)
    return SettingsLocation(root, tuple(dict.fromkeys(declarations)), tuple(sorted(by_name)), tuple(sorted(python_files)),
                            tuple(sorted(manage_folders)))


def locate_settings_remembered(root: str, patterns: tuple[str, ...], matches_settings_name,
                               memo_folder: str) -> SettingsLocation:
    """`locate_settings`, reusing the result kept in `memo_folder` while no folder it listed and no launcher
    or pytest configuration it read changed (a warm run then lists no folder). The memo is JSON read as
    data, as the result cache is; one tenantlint did not write is ignored and rebuilt."""
    from tenantlint import __version__
    from tenantlint.store import StoreError, check_stamps, ignored_store, read_store, write_store

    key = [__version__, root, list(patterns), sorted(_SKIPPED_FOLDERS)]
    try:
        saved = read_store(memo_folder, _MEMO_FILE, key)
        if saved is not None:
            watched = check_stamps(saved.get("watched") if isinstance(saved, dict) else None, "settings stamps")
            if all(file_stamp(path) == stamp for path, stamp in watched.items()):
                return _location_from_memo(root, saved)
    except StoreError as problem:
        ignored_store(memo_folder, _MEMO_FILE, problem)
    watched = {}
    location = locate_settings(root, matches_settings_name, watched=watched)
    write_store(memo_folder, _MEMO_FILE, key, {
        "watched": {path: list(stamp) if stamp else None for path, stamp in watched.items()},
        "declarations": [[d.module, d.configuration, d.source, d.line, d.path, d.import_root]
                         for d in location.declarations],
        "by_name": list(location.by_name), "python_files": list(location.python_files),
        "manage_folders": list(location.manage_folders)})
    return location


_MEMO_FILE = "settings.json"


def _location_from_memo(root: str, saved: dict) -> SettingsLocation:
    from tenantlint.store import StoreError

    def strings(name: str) -> tuple[str, ...]:
        value = saved.get(name)
        if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            raise StoreError(f"not a tenantlint settings memo ({name})")
        return tuple(value)

    declarations = saved.get("declarations")
    if not (isinstance(declarations, list) and all(
            isinstance(d, list) and len(d) == 6 and isinstance(d[0], str) and isinstance(d[2], str)
            and type(d[3]) is int and all(v is None or isinstance(v, str) for v in (d[1], d[4], d[5]))
            for d in declarations)):
        raise StoreError("not a tenantlint settings memo (declarations)")
    return SettingsLocation(root, tuple(Declaration(*d) for d in declarations), strings("by_name"),
                            strings("python_files"), strings("manage_folders"))


def _python_declarations(path: str, manage_folders: list[str], root: str) -> list[Declaration]:
    """`os.environ.setdefault("DJANGO_SETTINGS_MODULE", "x.settings")` and `os.environ[...] = "..."`,
    read from the module's syntax tree (a commented-out line does not count)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_LAUNCHER_BYTES + 1)
        if len(data) > _MAX_LAUNCHER_BYTES or b"DJANGO_SETTINGS_MODULE" not in data:
            return []
        tree = ast.parse(data, path)
    except (OSError, SyntaxError, ValueError):
        return []
    modules: list[tuple[str, int]] = []
    configuration = None
    for node in ast.walk(tree):
        pair = _environment_pair(node)
        if pair is None:
            continue
        name, value, line = pair
        if name == "DJANGO_SETTINGS_MODULE":
            modules.append((value, line))
        elif name == "DJANGO_CONFIGURATION":
            configuration = value
    folders = [os.path.dirname(path), source_root(os.path.dirname(path)), *manage_folders, root]
    return [Declaration(module, configuration, path, line, *_module_path(module, folders)) for module, line in modules]


def _environment_pair(node: ast.AST) -> tuple[str, str, int] | None:
    """(variable, value, line) of `environ.setdefault("NAME", "value")` or `environ["NAME"] = "value"`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("setdefault", "__setitem__"):
        if len(node.args) == 2 and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
            return node.args[0].value, node.args[1].value, node.lineno
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
        for target in node.targets:
            if (isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)
                    and isinstance(target.slice.value, str)):
                return target.slice.value, node.value.value, node.lineno
    return None


def _pytest_declarations(path: str, manage_folders: list[str], root: str) -> list[Declaration]:
    """pytest-django's `DJANGO_SETTINGS_MODULE` / `--ds` (and `DJANGO_CONFIGURATION` / `--dc`)."""
    options = _pytest_options(path)
    if not options:
        return []
    module = options.get("django_settings_module")
    configuration = options.get("django_configuration")
    addopts = options.get("addopts", "")
    if isinstance(addopts, list):
        addopts = " ".join(map(str, addopts))
    if not module and (found := _DS_OPTION.search(str(addopts))):
        module = found.group("module")
    if not configuration and (found := _DC_OPTION.search(str(addopts))):
        configuration = found.group("name")
    if not isinstance(module, str) or not module:
        return []
    folder = os.path.dirname(path)
    return [Declaration(module.strip(), configuration.strip() if isinstance(configuration, str) else None, path,
                        _line_of(path, module.strip()),
                        *_module_path(module.strip(), [folder, *manage_folders, root]))]


def _pytest_options(path: str) -> dict:
    """The pytest section of one configuration file, keys lower-cased (as ini files spell them freely)."""
    try:
        if path.endswith(".toml"):
            with open(path, "rb") as handle:
                table = tomllib.load(handle).get("tool", {}).get("pytest", {}).get("ini_options", {})
            return {str(k).lower(): v for k, v in table.items()} if isinstance(table, dict) else {}
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        with open(path, encoding="utf-8", errors="replace") as handle:
            parser.read_file(handle)
        section = "tool:pytest" if path.endswith("setup.cfg") else "pytest"
        return dict(parser[section]) if parser.has_section(section) else {}
    except (OSError, configparser.Error, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def _line_of(path: str, text: str) -> int:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if text in line:
                    return number
    except OSError:
        pass
    return 1


def _module_path(dotted: str, folders: list[str]) -> tuple[str | None, str | None]:
    """The file of a dotted module and the folder it was found from, searched from each folder in
    turn (as `sys.path` would)."""
    relative = dotted.replace(".", os.sep)
    for folder in dict.fromkeys(folders):
        for candidate in (os.path.join(folder, relative + ".py"), os.path.join(folder, relative, "__init__.py")):
            if os.path.isfile(candidate):
                return os.path.abspath(candidate), os.path.abspath(folder)
    return None, None
