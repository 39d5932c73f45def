"""Whether a change kept tenantlint's behaviour: every output format and every fix, byte for byte.

    python tools/same_behaviour.py record DIR    # before the change: write the outputs under DIR
    python tools/same_behaviour.py compare DIR   # after it: run again and name every output that differs

It runs `tenantlint check --select ALL --no-cache` on the test fixtures, on Django and Django REST
framework from the running Python's site-packages, and on each development-corpus repository at its
judged commit (exported from its mirror, as accuracy/score.py does), in each output format, with
`--statistics`, and with `--diff --unsafe-fixes` (every fix the rules would make), in one process
(`--jobs 1`: the order files are checked in is then always the same). A refactoring must leave all
of it unchanged. To record another commit's behaviour, run this script with `PYTHONPATH` set to that
commit's `src/` (a `git worktree`).
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "accuracy"))

from score import MIRRORS, export, read_judgments  # noqa: E402

FORMATS = ("full", "concise", "json", "sarif", "github")
VARIANTS = {f"format-{name}": ["--output-format", name, "--no-color"] for name in FORMATS}
VARIANTS["statistics"] = ["--statistics"]
VARIANTS["diff"] = ["--diff", "--unsafe-fixes"]


def targets(work: Path) -> dict[str, Path]:
    """The folders checked, each by a stable label."""
    site = Path(sysconfig.get_paths()["purelib"])
    found = {"fixtures": ROOT / "tests" / "fixtures", "django": site / "django", "rest_framework": site / "rest_framework"}
    for repo, rows in sorted(read_judgments().items()):
        if rows and (MIRRORS / repo / "repo").is_dir():  # a repository judged with no finding has no commit
            found[repo] = export(repo, rows[0].commit, work)
    return found


def run(folder: Path, options: list[str], work: Path) -> str:
    """One run's exit code and output, the scratch folder's name (which differs from run to run) replaced."""
    done = subprocess.run([sys.executable, "-m", "tenantlint", "check", ".", "--select", "ALL", "--no-cache", "--jobs", "1",
                           *options], cwd=folder, capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}".replace(str(work), "<scratch>")


def outputs(work: Path) -> dict[str, str]:
    found = {}
    for label, folder in targets(work).items():
        for variant, options in VARIANTS.items():
            found[f"{label}.{variant}.txt"] = run(folder, options, work)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("record", "compare"))
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        found = outputs(Path(work))
    if args.action == "record":
        args.folder.mkdir(parents=True, exist_ok=True)
        for name, text in found.items():
            (args.folder / name).write_text(text, encoding="utf-8")
        print(f"recorded {len(found)} outputs in {args.folder}")
        return 0
    differing = 0
    for name, text in found.items():
        kept = args.folder / name
        before = kept.read_text(encoding="utf-8") if kept.is_file() else ""
        if before != text:
            differing += 1
            print(f"differs: {name}")
            sys.stdout.writelines(list(difflib.unified_diff(before.splitlines(True), text.splitlines(True), "before", "after"))[:40])
    print(f"{len(found) - differing} of {len(found)} outputs identical")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
