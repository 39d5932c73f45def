"""The version of a package the project pins (lock files, requirements files, pyproject.toml): read as text,
never installed or imported, for rules whose answer depends on what a release of a library does."""

from __future__ import annotations

import os
import re

_LOCKS = ("poetry.lock", "uv.lock", "pdm.lock")
_PYPROJECT = "pyproject.toml"
_REQUIREMENTS = re.compile(r"^requirements.*\.(txt|in)$")
_MOST_BYTES = 1 << 20


def pinned_version(folder: str, top: str, package: str) -> tuple[tuple[int, ...], str] | None:
    """(the version as numbers, the file that pins it) for `package`, from the nearest folder, from `folder`
    up to `top`, whose lock, requirements or pyproject file pins it exactly; None when none does."""
    name = re.escape(package)
    exact = re.compile(rf"^\s*{name}\s*(?:\[[^\]]*\])?\s*==\s*(\d+(?:\.\d+)*)", re.IGNORECASE | re.MULTILINE)
    quoted = re.compile(rf"[\"']{name}\s*(?:\[[^\]]*\])?\s*==\s*(\d+(?:\.\d+)*)", re.IGNORECASE)
    locked = re.compile(rf"name\s*=\s*\"{name}\"\s*\n\s*version\s*=\s*\"(\d+(?:\.\d+)*)\"", re.IGNORECASE)
    folder, top = os.path.abspath(folder), os.path.abspath(top)
    while True:
        for path, pattern in _candidates(folder, exact, quoted, locked):
            found = pattern.search(_read(path))
            if found:
                return tuple(int(part) for part in found.group(1).split(".")), path
        parent = os.path.dirname(folder)
        if folder == top or parent == folder or not folder.startswith(top):
            return None
        folder = parent


def _candidates(folder: str, exact, quoted, locked):
    for lock in _LOCKS:
        yield os.path.join(folder, lock), locked
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        names = []
    for name in names:
        if _REQUIREMENTS.match(name):
            yield os.path.join(folder, name), exact
    requirements = os.path.join(folder, "requirements")
    if os.path.isdir(requirements):
        for name in sorted(os.listdir(requirements)):
            if name.endswith((".txt", ".in")):
                yield os.path.join(requirements, name), exact
    yield os.path.join(folder, _PYPROJECT), quoted


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(_MOST_BYTES).decode("utf-8", "replace")
    except OSError:
        return ""
