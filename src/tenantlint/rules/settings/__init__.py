"""Settings that let one tenant's request act as another's (TL301-TL303)."""
