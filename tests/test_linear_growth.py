"""The work a check does grows linearly with the findings in a module, for every kind of generated module
the benchmark times (bench/pathological.py). Work is counted, not timed: the Python lines the engine runs
(a trace), on a fresh engine, for a module of n and of 4n findings. A walk per finding, or a search back
through every function, shows as a ratio near 16 at these sizes; each such case once was one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tenantlint.config import load_config
from tenantlint.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("pathological", ROOT / "bench" / "pathological.py")
pathological = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pathological)

SMALL = {"one-line literal": 5_000}  # items, not findings: one literal item is a few nodes
GROWTH = 4
# linear work with a fixed part gives a little under 4; the quadratic cases gave 4.5 to 15.5
MOST = 4.25


def lines_run(folder: Path, text: str) -> tuple[int, int]:
    """The Python lines a fresh engine runs checking `text` as the only module of a project, and its
    number of findings."""
    path = folder / "generated.py"
    path.write_text(text, encoding="utf-8")
    data = path.read_bytes()
    Engine(load_config(None), files=[str(path)]).check_bytes(str(path), data)  # imports every rule's modules
    engine = Engine(load_config(None), files=[str(path)])
    count = 0

    def trace(frame, event, arg):
        nonlocal count
        count += 1
        return trace

    sys.settrace(trace)
    try:
        result = engine.check_bytes(str(path), data)
    finally:
        sys.settrace(None)
    return count, len(result.diagnostics)


@pytest.mark.parametrize("kind", sorted(pathological.GROWING))
def test_work_grows_linearly(kind, tmp_path, monkeypatch):
    make = pathological.GROWING[kind]
    small = SMALL.get(kind, 100)
    measured = []
    for name, size in (("small", small), ("large", small * GROWTH)):
        folder = tmp_path / name
        folder.mkdir()
        monkeypatch.chdir(folder)  # the project is the generated module alone
        measured.append(lines_run(folder, make(size)))
    (work_small, found_small), (work_large, found_large) = measured
    assert found_large == found_small * GROWTH
    assert work_large / work_small <= MOST, f"{kind}: {work_large / work_small:.2f}x the work for {GROWTH}x the module"
