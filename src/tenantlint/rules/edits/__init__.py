"""Editing tools the rule families share: lines of settings modules, statements placed in functions."""
