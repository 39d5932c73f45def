"""What tenantlint knows about the project being checked, before any rule judges a line of it.

Where its settings are and what they say, which tenancy model it uses, which
code is test code. Everything is read statically: nothing of the project is
imported or run.
"""
