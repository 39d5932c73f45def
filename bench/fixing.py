"""`--fix` and `--diff` against the check, on the development corpus's largest project (the one with the
most Python files among the judged repositories whose mirror is here; see accuracy/score.py). Each run
starts from a fresh copy of the project at its judged commit, so that every `--fix` has the same work."""

from __future__ import annotations

import importlib.util
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("score", ROOT / "accuracy" / "score.py")
score = sys.modules["score"] = importlib.util.module_from_spec(_spec)  # registered: its dataclasses look it up
_spec.loader.exec_module(score)


def largest_project() -> tuple[str, str] | None:
    """(repository, judged commit) of the judged repository with the most Python files; None if no
    mirror is here."""
    sizes = {}
    for repo, rows in score.read_judgments().items():
        git_dir = score.MIRRORS / repo / "repo"
        if not rows or not git_dir.is_dir():
            continue
        listing = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", rows[0].commit],
                                 check=True, capture_output=True, text=True).stdout
        sizes[repo] = (sum(name.endswith(".py") for name in listing.splitlines()), rows[0].commit)
    if not sizes:
        return None
    repo = max(sizes, key=lambda name: sizes[name][0])
    return repo, sizes[repo][1]


def fixing_section(plug: Path, work: Path, runs: int, measure) -> None:
    """Check, diff and fix, alternating, each on a fresh copy; target: fix and diff at most 3x the check."""
    found = largest_project()
    if found is None:
        print(f"\nFixing: left out, no mirror of a judged repository under {score.MIRRORS} "
              "(fetch one: see accuracy/score.py).")
        return
    repo, commit = found
    pristine = score.export(repo, commit, work / "fixing-pristine")
    files = sum(1 for _ in pristine.rglob("*.py"))
    tenantlint = [str(plug / "tenantlint"), "check", "--no-cache", "--exit-zero", "--output-format", "concise", "."]
    commands = {
        "check": tenantlint,
        "--diff --unsafe-fixes": [*tenantlint, "--diff", "--unsafe-fixes"],
        "--fix --unsafe-fixes": [*tenantlint, "--fix", "--unsafe-fixes"],
    }
    times: dict[str, list[float]] = {label: [] for label in commands}
    memory = dict.fromkeys(commands, 0.0)
    copy = work / "fixing-copy"
    for _ in range(runs):
        for label, command in commands.items():
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(pristine, copy)
            seconds, megabytes = measure(command, copy)
            times[label].append(seconds)
            memory[label] = max(memory[label], megabytes)
    medians = {label: statistics.median(values) for label, values in times.items()}
    print(f"\nFixing: {repo} at {commit[:12]} ({files} Python files), {runs} runs each, alternating, each on a fresh "
          "copy (target: fix and diff ≤ 3.0 × check):\n")
    print("| command | median s | min s | max s | peak MB | / check |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, values in times.items():
        print(f"| tenantlint {label} | {medians[label]:.2f} | {min(values):.2f} | {max(values):.2f} | "
              f"{memory[label]:.0f} | {medians[label] / medians['check']:.2f} |")
