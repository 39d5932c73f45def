"""Exact findings of TL703 storage-location-computed-once: class attributes and cached properties of storages
computed from the active tenant, and the places computed per use or from settings."""

from __future__ import annotations

from lintutil import CASES, lint

PROJECT = CASES / "TL703" / "project"


def test_places_computed_once_from_the_active_tenant():
    diagnostics, errors = lint(PROJECT, select=["TL703"], root=PROJECT)
    assert errors == []
    assert [(d.line, d.col, d.message, d.fix is not None) for d in diagnostics] == [
        (17, 4, "`location` of storage 'TenantMediaStorage' is a `cached_property` computed from "
         "`connection.schema_name` (the active schema): the storage is built once per process, so the first tenant "
         "to use it decides where every tenant's files go; make it a `@property`", True),
        (26, 4, "`bucket_name` of storage 'TenantBucket' is computed from `connection.schema_name` (the active "
         "schema) when the class is defined, at import, on whatever schema that is (the public one): every "
         "tenant's files go to that one place; compute it in a `@property` named `bucket_name`", False),
        (29, 4, "`custom_domain` of storage 'TenantBucket' is a `cached_property` computed from "
         "`parse_tenant_config_path()` (the active tenant): the storage is built once per process, so the first "
         "tenant to use it decides where every tenant's files go; make it a `@property`", True),  # via a helper
    ]
