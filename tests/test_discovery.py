"""Discovery matches patterns as pathspec does, whichever way it takes (its own expression or pathspec)."""

from __future__ import annotations

import itertools

import pathspec
import pytest

from tenantlint.config import DEFAULT_EXCLUDE
from tenantlint.discovery import Patterns

NAMES = ["build", "Build", "x.egg-info", "egg-info", ".venv", "venv", "a", "__pycache__", "site-packages", "b.py",
         "build.py", "rebuild", "x.pyc", "docs"]
PATTERNS = [
    list(DEFAULT_EXCLUDE),
    ["build/", "*.pyc", "docs"],
    ["/build", "a/b.py", "*.egg-info/"],  # anchored and path patterns: pathspec's part
    ["build", "!build/keep.py"],  # a negation: all of it to pathspec
    ["b?.py", "re*", "# a comment", ""],
    ["**/docs", "a/**/b.py"],
]


def _paths():
    for depth in (1, 2, 3):
        for parts in itertools.product(NAMES[:8] if depth == 3 else NAMES, repeat=depth):
            yield "/".join(parts)


@pytest.mark.parametrize("lines", PATTERNS, ids=lambda lines: ",".join(lines)[:40])
@pytest.mark.parametrize("gitignore_file", [False, True])
def test_patterns_match_as_pathspec_does(lines, gitignore_file):
    """The walk asks about each entry whose folders were all let through: for those, the answer is
    pathspec's for the entry's whole path."""
    ours = Patterns(lines, gitignore_file)
    spec = pathspec.GitIgnoreSpec.from_lines(lines) if gitignore_file else pathspec.PathSpec.from_lines("gitignore", lines)
    checked = 0
    for path in _paths():
        parts = path.split("/")
        if any(spec.match_file("/".join(parts[: i + 1]) + "/") for i in range(len(parts) - 1)):
            continue  # a folder above is matched: the walk never gets here
        for is_dir in (False, True):
            assert ours.match(path, is_dir) == spec.match_file(path + ("/" if is_dir else "")), (path, is_dir)
            checked += 1
    assert checked > 100
