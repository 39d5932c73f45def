"""Exact findings of TL501 unchecked-token-tenant, and its options."""

from __future__ import annotations

import textwrap

from lintutil import CASES, SAMPLE, lint, with_options

from tenantlint.diagnostics import Severity
from tenantlint.rules.tokens.tl501_unchecked_token_tenant import UncheckedTokenTenant

MESSAGE = (
    "user resolved from a decoded token without comparing its 'tenant_schema' claim to the active tenant: "
    "a token issued in tenant A is accepted on tenant B's host"
)


def found(path, **kwargs):
    diagnostics, errors = lint(path, select=["TL501"], **kwargs)
    assert errors == []
    return [(d.path.replace("\\", "/").rsplit("/", 2)[-2:], d.line, d.col, d.message, d.severity) for d in diagnostics]


def write(tmp_path, text, name="auth.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_sample_reports_the_plans_issues_1_and_6_and_nothing_else():
    assert found(SAMPLE) == [
        (["authentication", "jwt_authentication.py"], 37, 23, MESSAGE, Severity.ERROR),
        (["realtime", "auth.py"], 34, 21, MESSAGE, Severity.ERROR),
    ]


def test_reported_at_the_lookup_call():
    results = found(CASES / "TL501" / "get_user_overrides.py")
    assert results[0] == (["TL501", "get_user_overrides.py"], 17, 15, MESSAGE, Severity.ERROR)
    # `get_user_model().objects.filter(pk=user_id).first()`: one finding, at the start of the chain
    assert [r[1:3] for r in results if r[1] == 23] == [(23, 15)]


def test_plan_patches_count_as_guards():
    assert found(CASES / "TL502" / "plan_fixes.py") == []


def test_tenant_from_user_silences_the_rule():
    assert found(SAMPLE, options=with_options(tenant_from_user=True)) == []
    assert found(CASES / "TL501" / "decodes_and_aliases.py", options=with_options(tenant_from_user=True)) == []


UNGUARDED_AND_GUARDED = """\
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework_simplejwt.tokens import AccessToken

    User = get_user_model()


    def by_org(raw):
        token = AccessToken(raw)
        if token.get("org") != connection.schema_name:
            return None
        return User.objects.get(pk=token["user_id"])


    def by_tenant_schema(raw):
        token = AccessToken(raw)
        if token.get("tenant_schema") != connection.schema_name:
            return None
        return User.objects.get(pk=token["user_id"])
"""


def test_tenant_claim_option_names_the_claim(tmp_path):
    path = write(tmp_path, UNGUARDED_AND_GUARDED)
    assert [r[1:3] for r in found(path)] == [(12, 11)]
    renamed = found(path, options=with_options(tenant_claim="org"))
    assert [r[1:4] for r in renamed] == [(
        19, 11,
        "user resolved from a decoded token without comparing its 'org' claim to the active tenant: "
        "a token issued in tenant A is accepted on tenant B's host",
    )]


def test_authenticator_bases_option_makes_get_user_an_override(tmp_path):
    path = write(tmp_path, """\
        from django.contrib.auth import get_user_model
        from vendor.auth import BearerBase

        User = get_user_model()


        class Bearer(BearerBase):
            def get_user(self, validated_token):
                return User.objects.get(pk=validated_token["user_id"])
    """)
    assert found(path) == []
    options = with_options(authenticator_bases=("vendor.auth.BearerBase",))
    assert [r[1:3] for r in found(path, options=options)] == [(9, 15)]


def test_simplejwts_own_get_user_is_not_an_override(tmp_path):
    package = tmp_path / "rest_framework_simplejwt"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    path = write(package, """\
        from rest_framework import authentication


        class JWTAuthentication(authentication.BaseAuthentication):
            def get_user(self, validated_token):
                return self.user_model.objects.get(pk=validated_token["user_id"])
    """, name="authentication.py")
    assert found(path, root=tmp_path) == []


def test_helpers_are_followed_one_call_deep(tmp_path):
    path = write(tmp_path, """\
        from django.contrib.auth import get_user_model
        from rest_framework_simplejwt.tokens import AccessToken

        User = get_user_model()


        def _row(pk):
            return User.objects.get(pk=pk)


        def _indirect(pk):
            return _row(pk)


        def direct(raw):
            return _row(AccessToken(raw)["user_id"])


        def two_calls_away(raw):
            return _indirect(AccessToken(raw)["user_id"])
    """)
    assert [r[1:3] for r in found(path)] == [(16, 11)]


def test_metadata():
    assert UncheckedTokenTenant.severity is Severity.ERROR
    assert UncheckedTokenTenant.default_enabled
    assert set(UncheckedTokenTenant.options) == {"tenant-claim", "tenant-from-user", "authenticator-bases"}


# -- the fix -------------------------------------------------------------------------------

FIX_MESSAGE = "Reject the token unless its 'tenant_schema' claim is the active tenant, before the lookup"


def fixes(path, **kwargs):
    diagnostics, errors = lint(path, select=["TL501"], **kwargs)
    assert errors == []
    return {d.line: d.fix for d in diagnostics}


def fixed_text(path, options=None):
    from tenantlint.config import Config
    from tenantlint.engine import Engine
    from tenantlint.fixing import fix_source
    from tenantlint.sourcefile import decode_source

    config = Config(root=str(path.parent), select=["TL501"])
    if options is not None:
        config.options = options
    engine = Engine(config, files=[str(path)])
    return fix_source(engine, str(path), decode_source(path.read_bytes()), unsafe=True).text


def test_fix_is_unsafe_and_says_what_it_does():
    fix = fixes(SAMPLE / "backend" / "authentication" / "jwt_authentication.py")[37]
    assert (fix.applicability.value, fix.message, fix.edits) == ("unsafe", FIX_MESSAGE, ())
    assert UncheckedTokenTenant.fix_safety == "unsafe"


def test_no_fix_where_the_check_has_no_place(tmp_path):
    path = write(tmp_path, """\
        from django.contrib.auth import get_user_model
        from rest_framework.exceptions import PermissionDenied
        from rest_framework_simplejwt.tokens import AccessToken

        User = get_user_model()


        def inline(raw):
            return User.objects.get(pk=AccessToken(raw)["user_id"])


        def decoded_in_a_branch(raw, refresh):
            if refresh:
                token = AccessToken(raw)
            else:
                token = AccessToken(refresh)
            return User.objects.get(pk=token["user_id"])


        def rebound(raw):
            token = AccessToken(raw)
            token = AccessToken(str(token))
            return User.objects.get(pk=token["user_id"])


        def one_line(raw):
            token = AccessToken(raw); return User.objects.get(pk=token["user_id"])


        def connection_means_something_else(raw, connection):
            token = AccessToken(raw)
            return User.objects.get(pk=token["user_id"], db=connection)


        def permission_denied_is_drfs(raw):
            token = AccessToken(raw)
            return User.objects.get(pk=token["user_id"])


        def decoded_in_a_try_that_carries_on(raw):
            try:
                token = AccessToken(raw)
            except Exception:
                pass
            return User.objects.get(pk=token["user_id"])
    """)
    assert fixes(path) == {9: None, 17: None, 23: None, 27: None, 32: None, 37: None, 45: None}


def test_fix_uses_the_tenant_claim_option(tmp_path):
    path = write(tmp_path, """\
        from django.contrib.auth import get_user_model
        from rest_framework_simplejwt.tokens import AccessToken

        User = get_user_model()


        def lookup(raw):
            token = AccessToken(raw)
            return User.objects.get(pk=token["user_id"])
    """)
    text = fixed_text(path, options=with_options(tenant_claim="org"))
    assert '    token_tenant_schema = token.get("org")\n' in text
    assert fixed_text(path).count('token.get("tenant_schema")') == 1


def test_fixed_sample_is_clean_for_tl501_and_tl502(tmp_path):
    for name in ("authentication/jwt_authentication.py", "realtime/auth.py"):
        path = tmp_path / name.replace("/", "_")
        path.write_text(fixed_text(SAMPLE / "backend" / name), encoding="utf-8")
        diagnostics, errors = lint(path, select=["TL501", "TL502"])
        assert (diagnostics, errors) == ([], [])


def test_no_fix_where_the_connection_carries_no_tenant(tmp_path):
    """On an event loop, in Channels' database_sync_to_async thread and in a consumer, no tenant middleware
    set the connection's schema: a check against it would reject every valid token. asgiref's sync_to_async
    runs where the middleware ran, and a function handed the schema can compare with it: those are fixed."""
    path = write(tmp_path, """\
        from asgiref.sync import sync_to_async
        from channels.db import database_sync_to_async
        from channels.generic.websocket import WebsocketConsumer
        from django.contrib.auth import get_user_model
        from rest_framework_simplejwt.tokens import AccessToken

        User = get_user_model()


        async def on_the_loop(raw):
            token = AccessToken(raw)
            return await User.objects.aget(id=token["user_id"])


        @database_sync_to_async
        def for_a_consumer(raw):
            token = AccessToken(raw)
            return User.objects.get(id=token["user_id"])


        class Socket(WebsocketConsumer):
            def connect(self):
                token = AccessToken(self.scope["query_string"])
                self.user = User.objects.get(id=token["user_id"])


        @sync_to_async
        def for_a_view(raw):
            token = AccessToken(raw)
            return User.objects.get(id=token["user_id"])


        async def handed_the_schema(raw, schema_name):
            token = AccessToken(raw)
            return await User.objects.aget(id=token["user_id"])
        """)
    diagnostics, errors = lint(path, select=["TL501"])
    assert errors == []
    reason = ("; no fix offered: this code runs {}, where the connection's schema is not the tenant being served (no "
              "tenant middleware set it): compare the claim with the tenant of the request or the consumer's scope")
    assert [(d.line, d.message, d.fix is not None) for d in diagnostics] == [
        (12, MESSAGE + reason.format("on an event loop"), False),
        (18, MESSAGE + reason.format("in the thread Channels' database_sync_to_async hands it to"), False),
        (24, MESSAGE + reason.format("for a Channels consumer"), False),
        (30, MESSAGE, True),
        (35, MESSAGE, True),
    ]


def test_no_fix_when_the_project_issues_tokens_without_the_claim(tmp_path):
    """The check would compare a claim no token carries and refuse them all; where the project names the
    claim, or no code issuing tokens is in view, the check is offered."""
    auth = """\
        from django.contrib.auth import get_user_model
        from rest_framework_simplejwt.authentication import JWTAuthentication


        class TenantJWTAuthentication(JWTAuthentication):
            def get_user(self, validated_token):
                return get_user_model().objects.get(id=validated_token["user_id"])
        """
    issuer = "from rest_framework_simplejwt.tokens import AccessToken\n\n\ndef token_for(user):\n" \
             "    token = AccessToken.for_user(user)\n{claim}    return str(token)\n"
    for claim, fixed in (("", False), ('    token["tenant_schema"] = "alpha"\n', True)):
        project = tmp_path / ("with_claim" if claim else "without_claim")
        project.mkdir()
        write(project, auth)
        (project / "tokens.py").write_text(issuer.format(claim=claim), encoding="utf-8")
        diagnostics, errors = lint(project, select=["TL501"], root=project)
        assert errors == [] and [(d.line, d.fix is not None) for d in diagnostics] == [(7, fixed)]
        if not fixed:
            assert diagnostics[0].message == MESSAGE + (
                "; no fix offered: the project issues tokens (tokens.py) but no code of it names a 'tenant_schema' "
                "claim, so a check would refuse every token: add the claim where tokens are issued, or set "
                "tenant-claim to the one they carry")
    alone = tmp_path / "no_issuer_in_view"
    alone.mkdir()
    write(alone, auth)
    diagnostics, _ = lint(alone, select=["TL501"], root=alone)
    assert [(d.line, d.fix is not None) for d in diagnostics] == [(7, True)]
