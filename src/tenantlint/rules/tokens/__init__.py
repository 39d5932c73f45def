"""Tokens honoured outside the tenant that issued them (TL501, TL502): reading token code, the checks, the fix."""
