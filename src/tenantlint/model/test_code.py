"""Which files are tests: the rules about runtime leaks skip them unless `include-tests = true`.

A test builds fixtures, fakes requests and asserts on caches; what would leak in a view is the point
of the test there. Judged by the path from the folder holding the file's source tree, so that a
project kept inside some `tests` folder higher up is not all test code.
"""

from __future__ import annotations

import os

from tenantlint.model.project import source_root

TEST_CODE = ("tests/", "test_*.py", "*_test.py", "tests.py", "conftest.py")


def is_test_code(path: str) -> bool:
    """`path` (absolute) is in a `tests` folder or named as pytest and Django name tests (`TEST_CODE`)."""
    absolute = os.path.abspath(path)
    top = os.path.dirname(source_root(os.path.dirname(absolute)))
    parts = os.path.relpath(absolute, top).replace(os.sep, "/").split("/")
    name = parts[-1]
    return ("tests" in parts[:-1] or name.startswith("test_") or name.endswith("_test.py")
            or name in ("tests.py", "conftest.py"))
