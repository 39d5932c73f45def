"""TL703 storage-location-computed-once: a storage's place for files is the first tenant's, for every tenant."""

from __future__ import annotations

import ast
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Edit
from tenantlint.model.execution import TEST
from tenantlint.model.summaries import Reach, active_tenant_read, class_methods, is_storage
from tenantlint.rules.base import Rule, register
from tenantlint.rules.edits.statements import module_names
from tenantlint.trees import walk

# where a storage puts and serves files (Django's FileSystemStorage; django-storages' S3, GCS, Azure backends)
_PLACES = frozenset({"location", "base_location", "base_url", "bucket_name", "custom_domain", "azure_container"})
_PER_OBJECT = frozenset({"functools.cached_property", "django.utils.functional.cached_property"})


@register
class StorageLocationComputedOnce(Rule):
    code = "TL703"
    name = "storage-location-computed-once"
    summary = "a storage's location or bucket is computed once from the active tenant and kept for every tenant"
    what = (
        "A storage class (a subclass of Django's `Storage`, `FileSystemStorage`, or a django-storages backend: "
        "any base named `...Storage`) whose `location`, `base_location`, `base_url`, `bucket_name`, "
        "`custom_domain` or `azure_container` is computed from the active schema or tenant "
        "(`connection.schema_name`, `connection.tenant`, `get_tenant()`, `parse_tenant_config_path(...)`, "
        "django-multitenant's `get_current_tenant()`), itself or through the helpers it calls, either as a class "
        "attribute or as a `cached_property`."
    )
    why = (
        "A storage is built once per process (`default_storage`, `storages[\"default\"]`, a field's `storage=`) "
        "and serves every request. A class attribute is computed when the module is imported, on whatever schema "
        "that is (usually the public one); a `cached_property` the first time a request reads it: "
        "\"whichever tenant receives the first file upload ends up determining the directory\", and from then on "
        "every tenant's files are written to, and served from, that tenant's place."
    )
    avoids = (
        "Silent for a `@property` (computed on each use, as django-tenants' `TenantFileSystemStorage` does), for "
        "places that do not depend on the tenant (settings, constants), for a callable `upload_to` (it runs per "
        "file), for classes that are not storages, in django-tenants' own code, in test code."
    )
    fix_description = (
        "Safe, for a `cached_property`: it becomes a `property`, computed from the active tenant on each use (the "
        "computation is a path or a name: cheap). No fix for a class attribute: move its computation into a "
        "`@property` of the same name."
    )
    fix_safety = "safe"
    node_types = (ast.ClassDef,)
    triggers = ("Storage",)
    requires = ("schema|tenant",)
    example_filename = "storage.py"
    invalid = (
        """\
from django.core.files.storage import FileSystemStorage
from django.db import connection
from django.utils.functional import cached_property


class TenantMediaStorage(FileSystemStorage):
    @cached_property
    def location(self):  # TL703
        return f"/srv/media/{connection.schema_name}"
""",
    )
    valid = (
        """\
from django.core.files.storage import FileSystemStorage
from django.db import connection


class TenantMediaStorage(FileSystemStorage):
    @property
    def location(self):
        return f"/srv/media/{connection.schema_name}"
""",
    )

    def visit(self, node: ast.ClassDef, ctx) -> Iterator[Diagnostic]:
        if not is_storage(node, ctx) or ctx.execution.at(node).place == TEST:
            return
        if any(part in ("django_tenants", "tenant_schemas") for part in ctx.module.name.split(".")):
            return
        methods = class_methods(node)
        for statement in node.body:
            if isinstance(statement, (ast.Assign, ast.AnnAssign)):
                targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                names = [t.id for t in targets if isinstance(t, ast.Name) and t.id in _PLACES]
                read = active_tenant_read((n, ctx.imports) for n in walk(statement.value)) \
                    if names and statement.value is not None else None
                if read is not None:
                    yield self.diagnostic(ctx.location(statement), (
                        f"`{names[0]}` of storage '{node.name}' is computed from {read} when the class is defined, "
                        "at import, on whatever schema that is (the public one): every tenant's files go to that "
                        f"one place; compute it in a `@property` named `{names[0]}`"))
            elif isinstance(statement, ast.FunctionDef) and statement.name in _PLACES:
                decorator = self._cached_property(statement, ctx)
                if decorator is None:
                    continue
                read = Reach(statement, ctx, methods=methods).active_tenant()
                if read is None:
                    continue
                yield self.diagnostic(ctx.location(statement), (
                    f"`{statement.name}` of storage '{node.name}' is a `cached_property` computed from {read}: the "
                    "storage is built once per process, so the first tenant to use it decides where every "
                    "tenant's files go; make it a `@property`"), fix=self._property_fix(decorator, ctx))

    @staticmethod
    def _cached_property(function: ast.FunctionDef, ctx) -> ast.expr | None:
        return next((d for d in function.decorator_list if ctx.imports.qualify(d) in _PER_OBJECT), None)

    def _property_fix(self, decorator: ast.expr, ctx):
        if "property" in module_names(ctx.tree):
            return None  # `property` is some other thing here
        line, start, end_line, end = ctx.char_span(decorator)
        return self.fix("Compute it on each use: `@property`", [Edit(line, start, end_line, end, "property")])
