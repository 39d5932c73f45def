"""Cache entries shared across tenants (TL201, TL202): key reading, what a key caches, the fix."""
