"""tenantlint: find the bugs that let one tenant's request act as another's."""

__version__ = "0.1.0"
