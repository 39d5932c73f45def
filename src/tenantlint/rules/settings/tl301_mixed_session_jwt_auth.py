"""TL301 mixed-session-jwt-auth: session and token authentication both in DRF's defaults."""

from __future__ import annotations

from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Fix, Severity
from tenantlint.model.known import SESSION_AUTHENTICATION, TOKEN_AUTHENTICATION, short
from tenantlint.model.settings_values import Seq, Str
from tenantlint.rules.base import Rule, register
from tenantlint.rules.edits.settings_lines import entry_alone_on_line, indent_of, line_ending, replace_lines


@register
class MixedSessionJwtAuth(Rule):
    code = "TL301"
    name = "mixed-session-jwt-auth"
    summary = "DEFAULT_AUTHENTICATION_CLASSES holds both session and token/JWT authentication"
    what = (
        "A `REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES']` setting (list or tuple, in any "
        "settings module, extended with `+=`, `.append`, `.insert`) that holds a session "
        "authentication class together with a token or JWT one. A project class counts by "
        "its resolved base class (`SessionAuthentication`, simplejwt's `JWTAuthentication`, "
        "DRF's `TokenAuthentication`, knox, OAuth2 ...), failing that by its dotted name."
    )
    why = (
        "DRF tries the default classes in order and the first that returns a user wins. With "
        "a JWT class and `SessionAuthentication` both on every view, a request that carries no "
        "token (or a token the JWT class declines) is silently authenticated by whatever session "
        "cookie the browser holds: an admin logged into tenant A's site who opens a link meant "
        "for user B acts as the admin, and audit fields record the wrong person. Each view "
        "should state which kind of credential it accepts."
    )
    avoids = (
        "Silent when only one kind is in the defaults, when the session class is set on a "
        "single view (`authentication_classes = [...]`), and when a class cannot be read "
        "statically (it is never guessed). Silent too where no tenant boundary can be crossed: "
        "no tenancy found, the tenant taken from the user (a project middleware setting "
        "`request.tenant` from `request.user`, or `tenancy = \"user\"`), or global users joining "
        "row-level tenants through memberships; the session's user is then judged as the token's is."
    )
    fix_description = (
        "Remove the session class from the defaults and, for the views that need it (admin, "
        "browsable API), set `authentication_classes` per view, as the plan's Issue 3 does. The entry's "
        "line becomes a comment that says so. Offered when the entry has a line of its own."
    )
    fix_safety = "unsafe"
    severity = Severity.WARNING
    settings_rule = True
    example_filename = "settings.py"
    invalid = (
        """\
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # TL301
    ],
}
TENANT_MODEL = "customers.Client"  # one schema per tenant
""",
    )
    valid = (
        """\
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
}
""",
    )

    def check_settings(self, view, ctx) -> Iterator[Diagnostic]:
        classes = view.lookup("REST_FRAMEWORK", "DEFAULT_AUTHENTICATION_CLASSES")
        if not isinstance(classes, Seq):
            return
        kinds = [(item, self._kind(item, ctx)) for item in classes.strings()]
        tokens = [item for item, kind in kinds if kind == "token"]
        if not tokens or not ctx.tenancy_under(view).users_per_tenant:
            return  # without a tenant a user is bound to, a session fallback crosses no tenant boundary
        token = tokens[0].value
        for item, kind in kinds:
            if kind == "session":
                yield self.diagnostic(
                    item.loc,
                    f"'{short(item.value)}' (session) is a default authentication class beside "
                    f"'{short(token)}' (token): a request without a valid token is authenticated "
                    "by the browser's session cookie instead; set session authentication per view",
                    fix=self._drop_from_defaults(item, ctx),
                )

    def _drop_from_defaults(self, item: Str, ctx) -> Fix | None:
        lines = ctx.settings.source_lines(item.loc.path)
        if not entry_alone_on_line(lines, item.loc):
            return None
        line = lines[item.loc.line - 1]
        note = (f"{indent_of(line)}# {short(item.value)} removed from the defaults: "
                f"add it to authentication_classes on the views that need sessions{line_ending(line)}")
        return self.fix(f"Remove '{short(item.value)}' from DEFAULT_AUTHENTICATION_CLASSES",
                        [replace_lines(item.loc.line, item.loc.line, note)])

    def _kind(self, item: Str, ctx) -> str | None:
        dotted = item.value
        ancestors = ctx.project.ancestors(dotted, item.loc.path)
        if ancestors & SESSION_AUTHENTICATION:
            return "session"
        if ancestors & TOKEN_AUTHENTICATION:
            return "token"
        name = short(dotted).lower()
        if "session" in name:
            return "session"
        if "jwt" in name or "token" in name or "bearer" in name:
            return "token"
        return None
