"""Audit fields and writes that record the wrong user (TL401, TL402)."""
