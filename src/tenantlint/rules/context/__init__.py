"""The tenant lost where code leaves the request, or switched and never switched back (TL603-TL607)."""

from tenantlint.model.known import TENANT_APPS


def in_tenancy_package(module_name: str) -> bool:
    """django-tenants' (or its predecessor's) own code, whose job is to switch schemas: also when the
    repository's root is a package, so its modules are named `<root>.django_tenants....`."""
    return any(part in TENANT_APPS for part in module_name.split("."))
