"""tenantlint's benchmark: `python bench/run.py` (needs only Python 3.10+, pip and the package registry).

It fetches a pinned corpus with pip (Django's and Django REST framework's
wheels), builds two virtual environments under bench/.work/ (the peers alone,
and the peers plus tenantlint from this checkout), then times every command
in one run, alternating, N times each, and prints a markdown table of medians,
min/max, peak memory (max RSS) and the ratios the performance targets use.
Then `--fix` and `--diff` against the check on the development corpus's largest project
(bench/fixing.py), and generated pathological files (bench/pathological.py).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

from fixing import fixing_section
from pathological import FILES, PARSE
from pathological import folder_name as _folder_name

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
CORPUS = {"django": "Django==5.2.19", "rest_framework": "djangorestframework==3.16.1"}
# Django itself is there for pylint-django, which imports it
PEERS = ["flake8==7.3.0", "flake8-bugbear==24.12.12", "pylint==3.3.9", "pylint-django==2.6.1", "ruff==0.14.4", "Django==5.2.19"]
PYLINT_SUBSET = "django/contrib/auth"
SMALL_FILE = "django/contrib/auth/tokens.py"


def sh(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], check=True, **kwargs)


def corpus() -> Path:
    """Unpack each pinned wheel once; the package folders are the corpus. The corpus folder is marked as
    a project of its own (an empty `[tool.tenantlint]` table): it lies inside this repository, whose
    `.git` would otherwise make the whole checkout, test fixtures and their settings modules included,
    the project tenantlint models."""
    target = WORK / "corpus"
    target.mkdir(parents=True, exist_ok=True)
    (target / "pyproject.toml").write_text("[tool.tenantlint]\n", encoding="utf-8")
    wheels = WORK / "wheels"
    for package, requirement in CORPUS.items():
        if (target / package).is_dir():
            continue
        wheels.mkdir(parents=True, exist_ok=True)
        sh(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", wheels, requirement)
        wheel = next(w for w in wheels.glob("*.whl") if w.name.lower().startswith(requirement.split("==")[0].lower() + "-"))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target, [n for n in archive.namelist() if n.startswith(package + "/")])
    return target


def environment(name: str, with_tenantlint: bool) -> Path:
    folder = WORK / name
    python = folder / "bin" / "python"
    marker = folder / (".ready-" + hashlib.sha1(" ".join(PEERS).encode()).hexdigest()[:12])  # new pins: rebuilt
    if not marker.exists():
        venv.create(folder, with_pip=True, clear=True)
        sh(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        sh(python, "-m", "pip", "install", "--quiet", *PEERS, *([str(ROOT)] if with_tenantlint else []))
        marker.write_text("ok\n")
    elif with_tenantlint:  # the checkout may have changed since: reinstall it, quietly
        sh(python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(ROOT))
    return folder / "bin"


def measure(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak memory (MB) of one run of `command`; a tool that failed stops the run."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    pylint = "pylint" in Path(command[0]).name
    failed = code & (1 | 32) if pylint else code not in (0, 1)  # pylint: bits 1 (fatal) and 32 (usage) are failures
    if failed:
        raise SystemExit(f"{' '.join(command)} failed with exit code {code}")
    return elapsed, usage.ru_maxrss / 1024


FLOOR = ("import ast, pathlib, sys\n"
         "for path in sorted(pathlib.Path(sys.argv[1]).rglob('*.py')):\n"
         "    ast.parse(path.read_bytes(), filename=str(path))\n")


def commands(base: Path, plug: Path, data: Path) -> dict[str, list[str]]:
    django = str(data / "django")
    subset = str(data / PYLINT_SUBSET)
    small = str(data / SMALL_FILE)
    tenantlint = [str(plug / "tenantlint"), "check", "--exit-zero", "--output-format", "concise"]
    return {
        "floor: read + ast.parse, Django": [str(base / "python"), "-c", FLOOR, django],
        "tenantlint cold (--no-cache), Django": [*tenantlint, "--no-cache", django],
        "tenantlint warm cache, Django": [*tenantlint, django],
        "tenantlint project (the model alone), Django": [str(plug / "tenantlint"), "project", django],
        "tenantlint, one small file": [*tenantlint, "--no-cache", small],
        "flake8, one small file": [str(base / "flake8"), small],
        "flake8 + bugbear, Django": [str(base / "flake8"), django],
        "flake8 + bugbear + tenantlint, Django": [str(plug / "flake8"), django],
        "pylint, contrib/auth": [str(base / "pylint"), "--jobs=1", "--score=n", subset],
        "pylint + tenantlint plugin, contrib/auth": [str(plug / "pylint"), "--jobs=1", "--score=n",
                                                     "--load-plugins=tenantlint.pylint", subset],
        "pylint + pylint-django, contrib/auth": [str(base / "pylint"), "--jobs=1", "--score=n",
                                                 "--load-plugins=pylint_django", "--django-settings-module=django.conf.global_settings",
                                                 subset],
        "ruff, Django": [str(base / "ruff"), "check", "--no-cache", "--exit-zero", "--quiet", django],
        "tenantlint cold (--no-cache), DRF": [*tenantlint, "--no-cache", str(data / "rest_framework")],
    }


RATIOS = [
    ("cold tenantlint / floor (target ≤ 0.8)", "tenantlint cold (--no-cache), Django", "floor: read + ast.parse, Django"),
    ("warm tenantlint / floor (target ≤ 0.12)", "tenantlint warm cache, Django", "floor: read + ast.parse, Django"),
    ("the model alone / floor", "tenantlint project (the model alone), Django", "floor: read + ast.parse, Django"),
    ("one small file: tenantlint / flake8 (target ≤ 1.0)", "tenantlint, one small file", "flake8, one small file"),
    ("flake8 with / without tenantlint (target ≤ 1.06)", "flake8 + bugbear + tenantlint, Django", "flake8 + bugbear, Django"),
    ("pylint with / without tenantlint plugin", "pylint + tenantlint plugin, contrib/auth", "pylint, contrib/auth"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (default 5)")
    parser.add_argument("--only", help="run only the commands whose label contains this text")
    parser.add_argument("--fix-runs", type=int, default=3,
                        help="runs of check, --diff and --fix on the largest corpus project (default 3; 0 leaves it out)")
    parser.add_argument("--pathological-runs", type=int, default=3,
                        help="runs of each pathological file (default 3; 0 leaves the section out)")
    args = parser.parse_args()
    data = corpus()
    base, plug = environment("peers", False), environment("peers-and-tenantlint", True)
    table = commands(base, plug, data)
    if args.only:
        table = {k: v for k, v in table.items() if args.only in k}
    work = WORK / "run"
    work.mkdir(exist_ok=True)
    subprocess.run(table.get("tenantlint warm cache, Django", ["true"]), cwd=work, stdout=subprocess.DEVNULL)  # warm it
    times: dict[str, list[float]] = {label: [] for label in table}
    memory: dict[str, float] = {label: 0.0 for label in table}
    for _ in range(args.runs):
        for label, command in table.items():  # alternating: one run of each, then again
            seconds, megabytes = measure(command, work)
            times[label].append(seconds)
            memory[label] = max(memory[label], megabytes)
    medians = {label: statistics.median(values) for label, values in times.items()}
    files = sum(1 for _ in (data / "django").rglob("*.py"))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.platform()}; corpus: Django 5.2.19 ({files} files), "
          f"DRF 3.16.1; {args.runs} runs each, alternating.\n")
    print("| command | median s | min s | max s | peak MB |")
    print("|---|---:|---:|---:|---:|")
    for label, values in times.items():
        print(f"| {label} | {medians[label]:.3f} | {min(values):.3f} | {max(values):.3f} | {memory[label]:.0f} |")
    print("\n| ratio | value |")
    print("|---|---:|")
    for title, numerator, denominator in RATIOS:
        if numerator in medians and denominator in medians:
            print(f"| {title} | {medians[numerator] / medians[denominator]:.2f} |")
    if args.fix_runs:
        fixing_section(plug, WORK, args.fix_runs, measure)
    if args.pathological_runs:
        pathological_section(base, plug, args.pathological_runs)


def pathological_section(base: Path, plug: Path, runs: int) -> None:
    """Each generated file checked alone, against `ast.parse` of the same file, alternating: whole
    commands (both with interpreter start-up), and in-process times (tenantlint's engine on the file
    after start-up, `ast.parse` in a plain Python); target: tenantlint at most 3x."""
    folder = WORK / "pathological"
    script = HERE / "pathological.py"
    # the generated text stays in a child process: a forked command's peak memory counts its parent's
    sh(sys.executable, script, "write", folder)
    work = WORK / "run"
    print(f"\nPathological files ({runs} runs each, alternating; medians; target: tenantlint / ast.parse ≤ 3.0):\n")
    print("| file | MB | findings | ast.parse s | tenantlint s | ratio | in-process: ast.parse s | tenantlint s "
          "| ratio | peak MB: ast.parse | tenantlint |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label in FILES:
        path = folder / _folder_name(label) / f"{_folder_name(label)}.py"
        parse = [str(base / "python"), "-c", PARSE, str(path)]
        check = [str(plug / "tenantlint"), "check", "--no-cache", "--exit-zero", "--output-format", "concise", str(path)]
        walls: dict[str, list[float]] = {"parse": [], "check": []}
        inside: dict[str, list[float]] = {"parse": [], "check": []}
        memory = {"parse": 0.0, "check": 0.0}
        findings = 0
        for _ in range(runs):
            for name, command in (("parse", parse), ("check", check)):
                seconds, megabytes = measure(command, work)
                walls[name].append(seconds)
                memory[name] = max(memory[name], megabytes)
            inside["parse"].append(float(_child(base / "python", script, "parse", path)[0]))
            seconds, findings = _child(plug / "python", script, "check", path)
            inside["check"].append(float(seconds))
        wall = {name: statistics.median(values) for name, values in walls.items()}
        own = {name: statistics.median(values) for name, values in inside.items()}
        print(f"| {label} | {path.stat().st_size / 1e6:.1f} | {findings} | {wall['parse']:.2f} | {wall['check']:.2f} | "
              f"{wall['check'] / wall['parse']:.2f} | {own['parse']:.3f} | {own['check']:.3f} | "
              f"{own['check'] / own['parse']:.2f} | {memory['parse']:.0f} | {memory['check']:.0f} |")


def _child(python: Path, script: Path, *args) -> list[str]:
    return subprocess.run([str(python), str(script), *map(str, args)], check=True, capture_output=True,
                          text=True).stdout.split()

if __name__ == "__main__":
    main()
