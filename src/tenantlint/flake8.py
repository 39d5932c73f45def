"""flake8 plugin: `flake8 --select=TL`. Uses the tree flake8 has parsed; flake8 itself handles `# noqa`.

flake8 hands over one file at a time. The project model does not depend on
that: classes in other modules are read from disk, and the settings are found
from the project root (see the README), so each file gets the findings of a
full `tenantlint check`.
"""

from __future__ import annotations

from tenantlint import __version__
from tenantlint.config import Options
from tenantlint.frontend import check_one_file, engine_for

_LIST_OPTIONS = ("tenant-scope-names", "tenant-key-functions", "public-cache-keys", "audit-fields",
                 "authenticator-bases", "middleware-bases", "tenant-middleware")


class TenantlintChecker:
    name = "tenantlint"
    version = __version__
    overrides: dict = {}

    def __init__(self, tree, filename: str, lines: list[str]):
        self.tree = tree
        self.filename = filename
        self.lines = lines

    @classmethod
    def add_options(cls, manager) -> None:
        from tenantlint.config import OPTION_HELP

        manager.add_option("--tenant-claim", parse_from_config=True, help=OPTION_HELP["tenant-claim"])
        for option in _LIST_OPTIONS:
            manager.add_option(f"--{option}", parse_from_config=True, comma_separated_list=True,
                               help=OPTION_HELP[option] + " (comma separated)")
        for flag in ("tenant-from-user", "include-tests"):
            manager.add_option(f"--{flag}", parse_from_config=True, action="store_true", default=None,
                               help=OPTION_HELP[flag])
        for option in ("tenancy", "tenant-model"):
            manager.add_option(f"--{option}", parse_from_config=True, help=OPTION_HELP[option])

    @classmethod
    def parse_options(cls, options) -> None:
        """flake8 options (command line or setup.cfg/.flake8) override `[tool.tenantlint]`."""
        overrides = {}
        for field in Options.__dataclass_fields__:
            value = getattr(options, field, None)
            if value in (None, [], ""):
                continue
            overrides[field] = tuple(value) if isinstance(value, list) else value
        cls.overrides = overrides

    def run(self):
        engine = engine_for(self.filename, self.overrides, apply_noqa=False)
        result = check_one_file(engine, self.filename, "".join(self.lines), self.tree)
        for diagnostic in result.diagnostics:
            if diagnostic.code == "TL000":
                continue  # flake8 reports syntax errors itself (E999)
            yield diagnostic.line, diagnostic.col, f"{diagnostic.code} {diagnostic.message}", type(self)
        for error in result.errors:
            yield 1, 0, f"TL000 internal error in {error.rule}: {error.reason}", type(self)
