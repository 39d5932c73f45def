"""The `tenantlint` command: check, rules, rule."""

from __future__ import annotations

import os
import sys

import click

from tenantlint import __version__
from tenantlint.config import Config, ConfigError, find_config_file, load_config
from tenantlint.diagnostics import Diagnostic

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
OUTPUT_FORMATS = ("full", "concise", "json")


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
@click.option("--output-format", type=click.Choice(OUTPUT_FORMATS), default="full", show_default=True)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Use this pyproject.toml.")
@click.option("--color/--no-color", default=None, help="Force colours on or off in the full format.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of internal errors.")
def check(paths, select, extend_select, ignore, exclude, extend_exclude, output_format, exit_zero, no_cache,
          config_file, color, verbose) -> None:
    """Check PATHS (files or folders; default: the current folder)."""
    from tenantlint.discovery import discover
    from tenantlint.engine import Engine
    from tenantlint.selection import known_selector

    paths = list(paths) or ["."]
    try:
        if config_file is not None and not os.path.isfile(config_file):
            raise ConfigError(f"configuration file not found: {config_file}")
        config = load_config(config_file or find_config_file(paths[0]))
        _apply_cli_options(config, select, extend_select, ignore, exclude, extend_exclude)
        unknown = [s for s in (config.select or []) + config.extend_select + config.ignore if not known_selector(s)]
        if unknown:
            raise ConfigError(f"unknown rule selector: {', '.join(unknown)}")
    except ConfigError as error:
        _fail(str(error))
    found = discover(paths, config)
    if found.missing:
        _fail(f"no such file or directory: {', '.join(found.missing)}")
    engine = Engine(config, files=found.files)
    diagnostics: list[Diagnostic] = []
    sources: dict[str, list[str]] = {}
    errors = []
    for path in found.files:
        result = engine.check_path(path)
        diagnostics.extend(result.diagnostics)
        errors.extend(result.errors)
        if result.diagnostics and result.source is not None:
            sources[path] = result.source.text.splitlines()
    diagnostics.sort(key=Diagnostic.sort_key)
    _report(diagnostics, sources, output_format, color)
    for error in errors:
        click.echo(f"tenantlint: internal error in {error.rule} on {error.path}: {error.reason}", err=True)
        if verbose:
            click.echo(error.traceback, err=True)
    if errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if diagnostics and not exit_zero else EXIT_CLEAN)


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


def _report(diagnostics: list[Diagnostic], sources: dict[str, list[str]], output_format: str, color) -> None:
    if output_format == "concise":
        from tenantlint.report.concise import render_concise

        click.echo(render_concise(diagnostics), nl=False)
    elif output_format == "json":
        from tenantlint.report.json_format import render_json

        click.echo(render_json(diagnostics), nl=False)
    else:
        from tenantlint.report.full import render_full

        render_full(diagnostics, sources, sys.stdout, color)


def _fail(message: str) -> None:
    click.echo(f"tenantlint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


@cli.command("rules")
def list_rules() -> None:
    """List every rule with its code, name, default and fix."""
    from tenantlint.rules import all_rules

    for rule in all_rules():
        fix = rule.fix_safety or "-"
        state = "on" if rule.default_enabled else "off"
        click.echo(f"{rule.code}  {rule.name:<26} {state:<4} fix: {fix:<7} {rule.summary}")


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
        sys.exit(EXIT_ERROR)
