"""Score tenantlint against the hand judgments of the development corpus.

Each `accuracy/judgments/OWNER+NAME.csv` holds one row per finding judged by
hand (path, line, code, verdict, reason, commit): verdict `right`, `wrong` or
`unsure`, or `missed` for a leak tenantlint should report and did not. The
script exports each repository at the judged commit from its mirror
(`fetch github:OWNER/NAME` puts it under /work/.mirror), runs `tenantlint check`
on it, matches the findings with the judgments and prints precision per rule.
Findings nobody judged yet are listed: judge them before trusting the table.

    python accuracy/score.py                 # print the table
    python accuracy/score.py --write         # also regenerate docs/accuracy.md
    python accuracy/score.py --unjudged      # list findings without a judgment
    python accuracy/score.py --list          # every finding with its verdict; right ones lost

The repositories' code never enters this project: only the judgments do.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
JUDGMENTS = HERE / "judgments"
REPORT = HERE.parent / "docs" / "accuracy.md"
MIRRORS = Path(os.environ.get("TENANTLINT_MIRRORS", "/work/.mirror"))
FIELDS = ("path", "line", "code", "verdict", "reason", "commit")
VERDICTS = ("right", "wrong", "unsure", "missed")


@dataclass(frozen=True)
class Judgment:
    repo: str
    path: str
    line: int
    code: str
    verdict: str
    reason: str
    commit: str

    @property
    def key(self) -> tuple[str, int, str]:
        return self.path, self.line, self.code


def read_judgments(folder: Path = JUDGMENTS) -> dict[str, list[Judgment]]:
    """Every repository's judgments; a malformed row stops the run with its file and line."""
    found: dict[str, list[Judgment]] = {}
    for file in sorted(folder.glob("*.csv")):
        repo = file.stem
        rows = []
        with file.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != FIELDS:
                sys.exit(f"{file}: the header must be {','.join(FIELDS)}")
            for number, row in enumerate(reader, start=2):
                if row["verdict"] not in VERDICTS or not row["line"].isdigit() or not row["reason"].strip():
                    sys.exit(f"{file}:{number}: need a line number, a verdict among {VERDICTS} and a reason")
                rows.append(Judgment(repo, row["path"], int(row["line"]), row["code"], row["verdict"],
                                     row["reason"].strip(), row["commit"]))
        commits = {row.commit for row in rows}
        if len(commits) > 1:
            sys.exit(f"{file}: every row must name the same commit (found {sorted(commits)})")
        found[repo] = rows
    return found


def export(repo: str, commit: str, into: Path) -> Path:
    """The repository's Python and configuration files at `commit`, from its mirror (a mirror may
    lack its largest blobs, so `git archive` is not used: missing blobs are skipped)."""
    git_dir = MIRRORS / repo / "repo"
    if not git_dir.is_dir():
        sys.exit(f"no mirror of {repo} at {git_dir}: fetch github:{repo.replace('+', '/')} first")
    target = into / repo
    if target.exists():
        shutil.rmtree(target)
    git = ["git", "--git-dir", str(git_dir)]
    listing = subprocess.run([*git, "ls-tree", "-r", "-z", commit], check=True, capture_output=True).stdout
    wanted = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, kind, blob = meta.split()
        path = name.decode("utf-8", "surrogateescape")
        if kind == b"blob" and mode != b"120000" and path.endswith(KEPT_SUFFIXES):
            wanted.append((path, blob.decode()))
    batch = subprocess.run([*git, "cat-file", "--batch"], input="".join(f"{blob}\n" for _, blob in wanted).encode(),
                           check=True, capture_output=True).stdout
    offset = 0
    for path, blob in wanted:
        end = batch.index(b"\n", offset)
        header = batch[offset:end].split()
        offset = end + 1
        if header[-1] == b"missing":
            continue
        size = int(header[2])
        destination = target / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(batch[offset:offset + size])
        offset += size + 1
    return target


KEPT_SUFFIXES = (".py", ".ini", ".cfg", ".toml", ".gitignore")


def findings(tree: Path) -> list[dict]:
    """tenantlint's findings on a tree, as its JSON output gives them (paths relative to the tree), with
    the rules that are off by default switched on."""
    # the rules off by default are measured too: their pages give the figure that keeps them off
    from tenantlint.rules import all_rules

    off = ",".join(rule.code for rule in all_rules() if not rule.default_enabled)
    run = subprocess.run([sys.executable, "-m", "tenantlint", "check", ".", "--no-cache", "--output-format", "json",
                          *(["--extend-select", off] if off else [])], cwd=tree, capture_output=True, text=True)
    if run.returncode not in (0, 1):
        sys.exit(f"tenantlint failed on {tree} (exit {run.returncode}):\n{run.stderr}")
    found = json.loads(run.stdout)
    for item in found:
        item["filename"] = os.path.relpath(os.path.join(tree, item["filename"]), tree)
    return found


def score(judged: dict[str, list[Judgment]], keep: Path | None = None):
    """Per rule: right, wrong, unsure, unjudged findings, and misses found / still missed."""
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    unjudged: list[tuple[str, dict]] = []
    listed: list[str] = []
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tenantlint-accuracy-", dir=keep) as scratch:
        if keep is not None:
            scratch = keep
        for repo, rows in judged.items():
            if not rows:
                continue
            tree = export(repo, rows[0].commit, Path(scratch))
            by_key = {row.key: row for row in rows}
            reported = set()
            for item in findings(tree):
                key = (item["filename"], item["location"]["row"], item["code"])
                reported.add(key)
                row = by_key.get(key)
                if row is None or row.verdict == "missed":
                    table[item["code"]]["found misses" if row else "unjudged"] += 1
                    if row is None:
                        unjudged.append((repo, item))
                else:
                    table[item["code"]][row.verdict] += 1
                verdict = ("found" if row.verdict == "missed" else row.verdict) if row else "unjudged"
                listed.append(f"{verdict:8} {repo}: {key[0]}:{key[1]}: {key[2]} {row.reason if row else item['message']}")
            for row in rows:
                if row.key not in reported:
                    table[row.code]["still missed" if row.verdict == "missed" else f"gone ({row.verdict})"] += 1
                    if row.verdict in ("right", "missed"):
                        listed.append(f"{'lost' if row.verdict == 'right' else 'missed':8} {repo}: {row.path}:{row.line}: "
                                      f"{row.code} {row.reason}")
    return table, unjudged, listed


def precision(counts: collections.Counter) -> float | None:
    """A found miss is a finding judged right before it was reported: it counts as right."""
    right = counts["right"] + counts["found misses"]
    judged = right + counts["wrong"]
    return right / judged if judged else None


def render(table: dict[str, collections.Counter]) -> str:
    """Every rule has its row, also one with no finding on the corpus (its precision is unmeasured: `-`);
    the totals are given for the rules on by default, which users get, and for all of them."""
    from tenantlint.rules import all_rules

    default = {rule.code: rule.default_enabled for rule in all_rules()}
    columns = ("right", "wrong", "unsure", "unjudged", "found misses", "still missed", "gone (right)", "gone (wrong)")
    lines = ["| rule | default | precision | " + " | ".join(columns) + " |", "|---" * (len(columns) + 3) + "|"]
    on: collections.Counter = collections.Counter()
    every: collections.Counter = collections.Counter()
    for code in sorted(set(table) | set(default)):
        counts = table.get(code, collections.Counter())
        if code != "TL000":
            every.update(counts)
            if default.get(code, True):
                on.update(counts)
        lines.append(_row(code, "on" if default.get(code, True) else "off", counts, columns))
    lines.append(_row("rules on by default (without TL000)", "", on, columns))
    lines.append(_row("all rules (without TL000)", "", every, columns))
    return "\n".join(lines)


def _row(name: str, default: str, counts: collections.Counter, columns: tuple[str, ...]) -> str:
    value = precision(counts)
    return (f"| {name} | {default} | {'-' if value is None else f'{value:.2f}'} | "
            + " | ".join(str(counts[c]) for c in columns) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"regenerate {REPORT.relative_to(HERE.parent)}")
    parser.add_argument("--unjudged", action="store_true", help="list the findings that have no judgment")
    parser.add_argument("--list", action="store_true",
                        help="list every finding with its verdict, and the right ones and misses not reported")
    parser.add_argument("--keep", type=Path, help="export the trees into this folder and leave them there")
    parser.add_argument("repos", nargs="*", help="only these repositories (OWNER+NAME)")
    options = parser.parse_args()
    judged = read_judgments()
    if options.repos:
        judged = {repo: rows for repo, rows in judged.items() if repo in options.repos}
    table, unjudged, listed = score(judged, options.keep)
    text = render(table)
    print(text)
    if options.list:
        print("\n" + "\n".join(sorted(listed)))
    if options.unjudged or unjudged:
        print(f"\n{len(unjudged)} findings without a judgment:")
        for repo, item in unjudged:
            print(f"  {repo}: {item['filename']}:{item['location']['row']}: {item['code']} {item['message']}")
    if options.write:
        REPORT.write_text(
            "# Accuracy on the development corpus\n\n"
            "Every finding of `tenantlint check` on the development corpus, judged by hand as a Django security\n"
            "engineer would (`accuracy/judgments/`, one file per repository, at the commit named there).\n"
            "Precision is (right + found misses) / (right + found misses + wrong); `unsure` counts in neither.\n"
            "`found misses` are leaks judged as missed by an earlier version and now reported; `gone` are judged findings no longer reported.\n"
            f"Regenerate with `python accuracy/score.py --write`.\n\nRepositories: {len(judged)}.\n\n{text}\n",
            encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
