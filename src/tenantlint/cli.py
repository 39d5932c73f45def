"""The `tenantlint` command: check, rules, rule."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from tenantlint import __version__
from tenantlint.config import Config, ConfigError, find_config_file, load_config
from tenantlint.diagnostics import Diagnostic
from tenantlint.sourcefile import read_file_bytes, split_lines

if TYPE_CHECKING:
    from tenantlint.fixing import FixAttempt
    from tenantlint.results import FileResult

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
from tenantlint.report import FORMATS as OUTPUT_FORMATS


def _codes(value: tuple[str, ...]) -> list[str]:
    return [code.strip().upper() for item in value for code in item.split(",") if code.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tenantlint")
def cli() -> None:
    """Find request state, cache keys, settings and token checks that let one tenant act as another."""


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", "select", multiple=True, help="Rule codes or prefixes to enable (replaces the default set).")
@click.option("--extend-select", multiple=True, help="Rule codes or prefixes to enable on top of the selection.")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option("--exclude", multiple=True, help="Glob patterns to skip (replaces the defaults).")
@click.option("--extend-exclude", multiple=True, help="Glob patterns to skip on top of the defaults.")
@click.option("--force-exclude", is_flag=True, help="Apply excludes to files named on the command line too (pre-commit).")
@click.option("--output-format", type=click.Choice(OUTPUT_FORMATS), default="full", show_default=True)
@click.option("--output-file", "-o", type=click.Path(dir_okay=False, writable=True), help="Write the report to this file.")
@click.option("--statistics", is_flag=True, help="Print one line per rule with its number of findings.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache (.tenantlint_cache/).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Processes to check files in (default: the core count).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Use this pyproject.toml.")
@click.option("--color/--no-color", default=None, help="Force colours on or off in the full format.")
@click.option("--fix", is_flag=True, help="Apply safe fixes.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix or --diff, also apply unsafe fixes.")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff and write nothing.")
@click.option("--show-fixes", is_flag=True, help="List what --fix fixed.")
@click.option("--add-noqa", is_flag=True, help="Add `# noqa: CODE` to every line with a finding.")
@click.option("--reason", help="With --add-noqa: text written after the codes.")
@click.option("--write-baseline", type=click.Path(dir_okay=False), help="Record today's findings in this file.")
@click.option("--baseline", type=click.Path(dir_okay=False), help="Report only findings not in this baseline file.")
@click.option("--stdin-filename", help="With PATH '-': the file name standard input stands for (for settings and config).")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of internal errors.")
def check(paths, select, extend_select, ignore, exclude, extend_exclude, force_exclude, output_format, output_file,
          statistics, exit_zero, no_cache, jobs,
          config_file, color, fix, unsafe_fixes, diff, show_fixes, add_noqa, reason, write_baseline, baseline,
          stdin_filename, verbose) -> None:
    """Check PATHS (files or folders; default: the current folder)."""
    from tenantlint.discovery import discover

    paths = _stdin_conventions(list(paths), stdin_filename)
    if paths == ["-"] and stdin_filename is None:
        stdin_filename = "-"
    try:
        if config_file is not None and not os.path.isfile(config_file):
            raise ConfigError(f"configuration file not found: {config_file}")
        config = load_config(config_file or find_config_file(stdin_filename if paths == ["-"] else paths[0]))
        _apply_cli_options(config, select, extend_select, ignore, exclude, extend_exclude)
        selectors = (config.select or []) + config.extend_select + config.ignore
        if selectors:
            from tenantlint.selection import known_selector  # loads the rules: only when there is something to check

            unknown = [s for s in selectors if not known_selector(s)]
        else:
            unknown = []
        if unknown:
            raise ConfigError(f"unknown rule selector: {', '.join(unknown)}")
    except ConfigError as error:
        _fail(str(error))
    if paths == ["-"]:
        sys.exit(_check_stdin(config, stdin_filename, fix or diff, unsafe_fixes, diff, output_format, exit_zero, verbose))
    elif "-" in paths:
        _fail("'-' (standard input) cannot be combined with other paths")
    if no_cache:
        found = discover(paths, config, force_exclude)
    else:
        from tenantlint.discovery import discover_remembered
        from tenantlint.store import CACHE_DIR

        found = discover_remembered(paths, config, force_exclude, os.path.join(config.root, CACHE_DIR))
    from tenantlint.report import PREVIEWED
    from tenantlint.runner import check_files, tune_gc

    tune_gc()
    run = _Run(config, found.files, fix=fix or diff, diff=diff,
               previews=output_format in PREVIEWED and not (diff or statistics or add_noqa))
    run.failures += [f"{path}: no such file or directory" for path in found.missing]
    run.extra_diagnostics += [_folder_diagnostic(folder, reason) for folder, reason in found.unreadable]
    run.unreadable = bool(found.unreadable)
    jobs = jobs or os.cpu_count() or 1
    try:
        fixing = unsafe_fixes if fix or diff else None
        files = found.files
        for _ in range(_FIX_PASSES):
            for result, attempt in check_files(config, files, jobs, not no_cache, run.engine, fixing):
                run.take(result, attempt)
            files = run.depending_on(run.write_fixes())
            if not files:
                break
    except KeyboardInterrupt:
        _interrupted(run)
    diagnostics = sorted(run.diagnostics, key=Diagnostic.sort_key)
    if add_noqa:
        sys.exit(_add_noqa(run, diagnostics, reason))
    if write_baseline or baseline:
        diagnostics = _apply_baseline(run, diagnostics, write_baseline, baseline)
    try:
        with _output(output_file) as stream:
            if diff:
                stream.write("".join(run.diffs))
            elif statistics:
                from tenantlint.report import render_statistics

                stream.write(render_statistics(diagnostics, unsafe_fixes))
            elif output_format == "full":
                from tenantlint.report.full import render_full

                render_full(diagnostics, run.sources, stream, color if output_file is None else False, unsafe_fixes,
                            len(run.fixed) if fix else None, incomplete=bool(run.failures or run.incomplete))
            else:
                from tenantlint.report import render

                previews = run.codemod_previews(diagnostics) if run.previews else {}
                stream.write(render(output_format, diagnostics, previews))
    except OSError as error:
        _fail(f"cannot write {output_file}: {error.strerror}")
    if show_fixes and run.fixed:
        _show_fixes(run.fixed)
    for message in run.warnings:
        click.echo(f"tenantlint: {message}", err=True)
    for message in run.failures:
        click.echo(f"tenantlint: error: {message}", err=True)
    for error in run.errors:
        click.echo(f"tenantlint: internal error in {error.rule} on {error.path}: {error.reason}", err=True)
        if verbose:
            click.echo(error.traceback, err=True)
    if run.errors or run.failures or run.incomplete:
        sys.exit(EXIT_ERROR)
    if diff:
        sys.exit(EXIT_FINDINGS if run.diffs and not exit_zero else EXIT_CLEAN)
    sys.exit(EXIT_FINDINGS if diagnostics and not exit_zero else EXIT_CLEAN)


_FIX_PASSES = 3  # a fix that changes what other files are judged against (a settings module) is rare, a chain rarer


class _Run:
    """One `check` over many files: findings, fixes, diffs and the messages to print.

    With --fix, the files are checked in passes: each file is judged against the project as the pass
    found it on disk (whichever worker checks it, in whatever order), its fix is written when the pass
    ends, and the files whose findings depend on a file written are checked (and fixed) again against
    the project as it now is."""

    def __init__(self, config: Config, files: list[str], fix: bool, diff: bool, previews: bool):
        self.config, self.files = config, files
        self.fix, self.diff = fix, diff
        self.previews = previews  # the report shows what codemod fixes would change (JSON, SARIF)
        self._engine = None
        self._results: dict[str, FileResult] = {}
        self._to_write: list[tuple[FileResult, FixAttempt]] = []
        self._refused: set[str] = set()  # files a fix could not be written to: not tried again in a later pass
        self.extra_diagnostics: list[Diagnostic] = []  # not of a checked file: a folder that cannot be read
        self.sources: dict[str, list[str]] = {}
        self.texts: dict[str, object] = {}
        self.fixed: list[Diagnostic] = []
        self.diffs: list[str] = []
        self.warnings: list[str] = []
        self.failures: list[str] = []  # paths that could not be written, or do not exist: exit 2
        self.unreadable = False  # a folder could not be read (a TL000 says which): exit 2

    def engine(self):
        """Built on first need: a run answered wholly by the cache imports no rule."""
        if self._engine is None:
            from tenantlint.engine import Engine

            self._engine = Engine(self.config, files=self.files)
        return self._engine

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.extra_diagnostics + [d for result in self._results.values() for d in result.diagnostics]

    @property
    def errors(self) -> list:
        return [error for result in self._results.values() for error in result.errors]

    @property
    def incomplete(self) -> bool:
        """Some file or folder could not be read (exit 2)."""
        return self.unreadable or any(result.unreadable for result in self._results.values())

    def take(self, result, attempt=None) -> None:
        """One file's result; `attempt`, the file fixed in memory where it was checked, to write or show."""
        path = result.path
        if attempt is not None and attempt.outcome.changed and not self.diff and path not in self._refused:
            self._to_write.append((result, attempt))
        if attempt is not None:
            result = self._fix_shown(path, result, attempt)
        elif self.previews and result.diagnostics and not result.errors and result.source is None and any(
                d.fix and d.fix.is_codemod for d in result.diagnostics):
            result = self.engine().check_path(path)  # from the cache, which keeps no codemod plan
        self._keep(result)

    def _keep(self, result) -> None:
        path = result.path
        self._results[path] = result
        self.sources.pop(path, None)
        self.texts.pop(path, None)
        if result.diagnostics:
            source = result.source or _reread(path)
            if source is not None:
                self.sources[path] = split_lines(source.text)
                self.texts[path] = source

    def _fix_shown(self, path: str, result, attempt):
        """The result to report for a file fixed in memory: as fixed when diffing; when fixing, as it is
        until the fix is written."""
        from tenantlint.fixing import unified_diff

        outcome = attempt.outcome
        for diagnostic, why in outcome.dropped:
            self.warnings.append(f"{path}:{diagnostic.line}: fix for {diagnostic.code} not applied: {why}")
        if not outcome.changed:
            return outcome.result
        if self.diff:
            self.diffs.append(unified_diff(path, result.source.text, outcome.text))
            return outcome.result
        return result

    def write_fixes(self) -> set[str]:
        """Write the fixes of the pass, in path order; the real paths of the files written."""
        if not self._to_write:
            return set()  # nothing fixed (a check, or a warm run): the fixer and the rules stay unloaded
        from tenantlint.fixing import WriteRefused, write_fixed
        from tenantlint.model.project import real

        written = set()
        pending, self._to_write = sorted(self._to_write, key=lambda pair: pair[0].path), []
        for result, attempt in pending:
            path, outcome = result.path, attempt.outcome
            try:
                write_fixed(path, attempt.original, outcome, self.config.root, lambda: self.fixed.extend(outcome.fixed))
            except WriteRefused as refusal:
                self.failures.append(f"{path}: not fixed: {refusal}")
                self._refused.add(path)
                continue
            outcome.result.source = replace(result.source, text=outcome.text)
            self._keep(outcome.result)
            written.add(real(path))
        return written

    def depending_on(self, written: set[str]) -> list[str]:
        """The checked files whose findings were judged against a file since rewritten: to check again
        with an engine that reads the project anew."""
        again = sorted(path for path, result in self._results.items() if written.intersection(result.dependencies))
        if again:
            self._engine = None
        return again

    def codemod_previews(self, diagnostics: list[Diagnostic]) -> dict[int, tuple]:
        """Edits of codemod fixes for the JSON report; libcst is imported only if there are any."""
        wanted = [d for d in diagnostics if d.fix and d.fix.is_codemod]
        if not wanted:
            return {}
        from tenantlint.fixing import preview_edits

        return {id(d): preview_edits(self.engine(), d.path, self.texts[d.path], d) for d in wanted}


def _check_stdin(config: Config, filename: str, fix: bool, unsafe: bool, diff: bool, output_format: str,
                 exit_zero: bool, verbose: bool) -> int:
    """Editors and wrappers pipe a buffer in: report on it, or with --fix write the fixed text to stdout."""
    from tenantlint.engine import Engine
    from tenantlint.sourcefile import SourceError, decode_source

    data = sys.stdin.buffer.read()
    engine = Engine(config, files=[filename] if filename != "-" else [])
    engine.settings.add_candidate(filename)
    try:
        source = decode_source(data)
    except SourceError:
        source = None
    if source is not None:
        engine.project.provide(filename, source.text)
    result = engine.check_bytes(filename, data)
    text = source.text if source is not None else None
    if fix and source is not None and not result.errors and any(d.fix for d in result.diagnostics):
        from tenantlint.fixing import fix_source, unified_diff

        outcome = fix_source(engine, filename, source, unsafe)
        for diagnostic, why in outcome.dropped:
            click.echo(f"tenantlint: {filename}:{diagnostic.line}: fix for {diagnostic.code} not applied: {why}", err=True)
        if diff:
            sys.stdout.write(unified_diff(filename, source.text, outcome.text))
            return EXIT_FINDINGS if outcome.changed and not exit_zero else EXIT_CLEAN
        text = outcome.text
        result = outcome.result
    if fix and not diff:
        if text is None:
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.buffer.write((b"\xef\xbb\xbf" if source.has_bom else b"") + text.encode(source.encoding))
        sys.stdout.flush()
        from tenantlint.report.concise import render_concise

        sys.stderr.write(render_concise(result.diagnostics))
    else:
        from tenantlint.report import render
        from tenantlint.report.full import render_full

        if output_format == "full":
            render_full(result.diagnostics, {filename: split_lines(text or "")}, sys.stdout, None)
        else:
            sys.stdout.write(render(output_format, result.diagnostics, {}))
    for error in result.errors:
        click.echo(f"tenantlint: internal error in {error.rule} on {error.path}: {error.reason}", err=True)
        if verbose:
            click.echo(error.traceback, err=True)
    if result.errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if result.diagnostics and not exit_zero else EXIT_CLEAN


def _stdin_conventions(paths: list[str], stdin_filename: str | None) -> list[str]:
    """ruff's: `--stdin-filename` alone reads standard input (named paths are then ignored, with a
    warning); `-` alone reads it too, and is told what a file name would add."""
    if stdin_filename is not None and paths != ["-"]:
        if paths:
            click.echo(f"tenantlint: warning: ignoring {', '.join(paths)} in favour of standard input "
                       "(--stdin-filename)", err=True)
        return ["-"]
    if paths == ["-"] and stdin_filename is None:
        click.echo("tenantlint: note: standard input has no file name: the settings rules (TL301, TL302, TL303) "
                   "and per-file-ignores cannot apply; name it with --stdin-filename", err=True)
    return paths or ["."]


def _folder_diagnostic(folder: str, reason: str) -> Diagnostic:
    from tenantlint.diagnostics import Location, Severity
    from tenantlint.engine import PARSE_ERROR_CODE

    folder = os.path.normpath(folder)
    return Diagnostic(PARSE_ERROR_CODE, f"cannot read folder: {reason}", Location(folder, 1, 0, 1, 0), Severity.ERROR)


def _interrupted(run: "_Run") -> None:
    """Ctrl-C: no traceback, exit 130, and which files were already fixed (each is whole: a write is
    never interrupted half-way)."""
    message = "tenantlint: interrupted"
    if run.fix and not run.diff:
        fixed = sorted({d.path for d in run.fixed})
        message += f"; already fixed: {', '.join(fixed)}" if fixed else "; no file was changed"
    click.echo(message, err=True)
    sys.exit(EXIT_INTERRUPTED)


def _reread(path: str):
    """A cached result has no text: read it again for the report (only files with findings)."""
    from tenantlint.sourcefile import SourceError, decode_source

    try:
        return decode_source(read_file_bytes(path))
    except (OSError, SourceError):
        return None


def _show_fixes(fixed: list[Diagnostic]) -> None:
    from collections import Counter

    click.echo(f"Fixed {len(fixed)} problem{'s' if len(fixed) != 1 else ''}:", err=True)
    for (path, code, message), count in sorted(Counter((d.path, d.code, d.fix.message) for d in fixed).items()):
        click.echo(f"- {path}: {count} × {code} ({message})", err=True)


def _apply_cli_options(config: Config, select, extend_select, ignore, exclude, extend_exclude) -> None:
    if select:
        config.select = _codes(select)
    config.extend_select += _codes(extend_select)
    config.ignore += _codes(ignore)
    if exclude:
        config.exclude = [p for item in exclude for p in item.split(",") if p]
    config.extend_exclude += [p for item in extend_exclude for p in item.split(",") if p]
    for key in ("select", "extend_select", "ignore"):
        value = getattr(config, key)
        if value is not None:
            setattr(config, key, [code.upper() for code in value])


def _add_noqa(run: "_Run", diagnostics: list[Diagnostic], reason: str | None) -> int:
    from tenantlint.adoption import add_noqa
    from tenantlint.fixing import FixOutcome, WriteRefused, write_fixed

    total = 0
    for path in sorted({d.path for d in diagnostics}):
        source = run.texts.get(path)
        if source is None:
            continue
        text, changed = add_noqa(source.text, [d for d in diagnostics if d.path == path], reason)
        if not changed:
            continue
        try:
            write_fixed(path, read_file_bytes(path), FixOutcome(path, source, text), run.config.root)
        except (WriteRefused, OSError) as refusal:
            run.failures.append(f"{path}: not changed: {getattr(refusal, 'strerror', None) or refusal}")
            continue
        total += changed
    click.echo(f"Added noqa directives to {total} line{'s' if total != 1 else ''}.", err=True)
    from tenantlint.engine import PARSE_ERROR_CODE

    for diagnostic in diagnostics:  # no report is printed: say what could not be read
        if diagnostic.code == PARSE_ERROR_CODE and diagnostic.message.startswith("cannot read"):
            click.echo(f"tenantlint: error: {diagnostic.path}: {diagnostic.message}", err=True)
    for message in run.failures:
        click.echo(f"tenantlint: error: {message}", err=True)
    return EXIT_ERROR if run.errors or run.failures or run.incomplete else EXIT_CLEAN


def _apply_baseline(run: "_Run", diagnostics: list[Diagnostic], write_to: str | None,
                    read_from: str | None) -> list[Diagnostic]:
    """Paths in a baseline are relative to the baseline file, so it can be committed beside the code."""
    from tenantlint.adoption import BaselineError, fingerprints, new_findings, read_baseline, write_baseline

    root = os.path.dirname(os.path.abspath(write_to or read_from))
    texts = {path: source.text for path, source in run.texts.items()}
    if write_to:
        write_baseline(write_to, fingerprints(diagnostics, texts, root))
        click.echo(f"Wrote {len(diagnostics)} finding{'s' if len(diagnostics) != 1 else ''} to {write_to}.", err=True)
        return []
    try:
        return new_findings(diagnostics, texts, root, read_baseline(read_from))
    except BaselineError as error:
        _fail(str(error))


@contextlib.contextmanager
def _output(output_file: str | None):
    if output_file is None:
        yield sys.stdout
        return
    with open(output_file, "w", encoding="utf-8") as handle:
        yield handle


def _fail(message: str) -> None:
    click.echo(f"tenantlint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


@cli.command("clean")
@click.argument("path", default=".", type=click.Path(file_okay=False))
def clean_cache(path: str) -> None:
    """Remove the result cache (.tenantlint_cache/) of the project at PATH."""
    from tenantlint.cache import clean

    config_file = find_config_file(path)
    root = os.path.dirname(config_file) if config_file else path
    removed = clean(root)
    click.echo(f"Removed {os.path.join(root, '.tenantlint_cache')}" if removed else "No cache to remove.")


@cli.command("project")
@click.argument("path", default=".", type=click.Path(exists=True))
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Use this pyproject.toml.")
def show_project(path: str, output_format: str, config_file: str | None) -> None:
    """Print what tenantlint inferred about the project at PATH: settings, tenancy, tenant middleware, test code."""
    from tenantlint.engine import Engine
    from tenantlint.model.summary import describe_project, render_text

    try:
        config = load_config(config_file or find_config_file(path))
    except ConfigError as error:
        _fail(str(error))
    model = describe_project(Engine(config), path)
    if output_format == "json":
        click.echo(json.dumps(model, indent=2))
    else:
        click.echo(render_text(model), nl=False)


@cli.command("rules")
def list_rules() -> None:
    """List every rule with its code, name, default and fix."""
    from tenantlint.rules import all_rules

    rules = all_rules()
    width = max(len(rule.name) for rule in rules)
    for rule in rules:
        fix = rule.fix_safety or "-"
        state = "on" if rule.default_enabled else "off"
        click.echo(f"{rule.code}  {rule.name:<{width}} {state:<4} fix: {fix:<15} {rule.summary}")


@cli.command("rule")
@click.argument("code")
def show_rule(code: str) -> None:
    """Print the documentation of one rule (by code or name)."""
    from tenantlint.docs import rule_markdown
    from tenantlint.rules import rule_by_code

    rule = rule_by_code(code)
    if rule is None:
        _fail(f"unknown rule: {code}")
    click.echo(rule_markdown(rule))


def main() -> None:
    try:
        cli.main(prog_name="tenantlint", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("tenantlint: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
