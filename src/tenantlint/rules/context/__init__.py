"""The tenant lost where code leaves the request, or switched and never switched back (TL606)."""
