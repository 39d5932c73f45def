"""The tenant lost where code leaves the request, or switched and never switched back (TL601-TL608).

What these rules ask of the code a function reaches is in `model.summaries`; here, what only they share.
"""

from __future__ import annotations

from tenantlint.model.known import TENANT_APPS


def in_tenancy_package(module_name: str) -> bool:
    """django-tenants' (or its predecessor's) own code, whose job is to switch schemas: also when the
    repository's root is a package, so its modules are named `<root>.django_tenants....`."""
    return any(part in TENANT_APPS for part in module_name.split("."))
