"""TL501's and TL502's fixes, run: real Django and simplejwt, real signed tokens, the active schema
set the way django-tenants sets it (`connection.schema_name`), before and after the fix.

A token minted on tenant A's site is accepted on tenant B's before TL501's fix and refused after,
while B's own tokens still pass; TL502's fix makes the plan's patch refuse a token without the claim.
Each run is a fresh interpreter (`settings.configure` happens once per process, the module under
test is imported anew), so this process never configures Django. No database: users come from a
stand-in for the tenant's user table.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tenantlint.config import Config
from tenantlint.engine import Engine
from tenantlint.fixing import fix_source
from tenantlint.sourcefile import decode_source

# Stand-in for the active schema's user table (the lookup TL501 reports, without a database).
TENANT_USERS = textwrap.dedent('''\
    from types import SimpleNamespace

    USERS = {7: SimpleNamespace(id=7, pk=7, username="ann", is_active=True, is_authenticated=True)}


    def get_user_by_id(user_id):
        return USERS.get(int(user_id))


    async def aget_user_by_id(user_id):
        return USERS.get(int(user_id))
''')

# The sample's two functions (the plan's Issues 1 and 6), with the lookups going to the stand-in.
AUTHENTICATION = textwrap.dedent('''\
    import logging

    from rest_framework_simplejwt.authentication import JWTAuthentication
    from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
    from rest_framework_simplejwt.tokens import AccessToken

    from tenant_users import aget_user_by_id, get_user_by_id

    logger = logging.getLogger(__name__)


    class TenantAwareJWTAuthentication(JWTAuthentication):
        def get_user(self, validated_token):
            try:
                user_id = validated_token['user_id']
            except KeyError:
                raise InvalidToken("Token contained no recognizable user identification")

            user = get_user_by_id(user_id)
            if user is None:
                raise InvalidToken("User not found in tenant")
            return user


    async def authenticate_websocket_jwt(token: str, tenant_schema: str = None):
        """Authenticate JWT token for WebSocket connections"""
        if not token:
            return None

        try:
            access_token = AccessToken(token)
            user_id = access_token['user_id']

            user = await aget_user_by_id(int(user_id))
            if not user or not user.is_active:
                logger.warning(f"User {user_id} not found or inactive")
                return None

            return user

        except (InvalidToken, TokenError, KeyError) as e:
            logger.warning(f"WebSocket JWT authentication failed: {e}")
            return None
''')

# The plan's Issue 1 patch, its tenant check verbatim: a token without the claim skips it.
PLAN_PATCH = textwrap.dedent('''\
    from django.db import connection
    from rest_framework_simplejwt.authentication import JWTAuthentication
    from rest_framework_simplejwt.exceptions import InvalidToken

    from tenant_users import get_user_by_id


    class TenantAwareJWTAuthentication(JWTAuthentication):
        def get_user(self, validated_token):
            user_id = validated_token['user_id']
            token_tenant_schema = validated_token.get('tenant_schema')
            current_schema = connection.schema_name if hasattr(connection, 'schema_name') else None
            if token_tenant_schema and current_schema and token_tenant_schema != current_schema:
                raise InvalidToken("Token not valid for current tenant")
            return get_user_by_id(user_id)
''')

# Mints signed access tokens for user 7 (with a tenant claim, or none) and presents each over HTTP
# (`authenticate`, as DRF calls it) and, if the module has it, to the WebSocket function, on
# tenant_b's host; then once more with no active tenant (no django-tenants: no `schema_name`).
RUN = '''\
import asyncio
import importlib.util
import sys

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="behaviour-test-signing-key-0123456789abcdef",
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework_simplejwt"],
    SIMPLE_JWT={},
)
django.setup()

from django.db import connection
from django.test import RequestFactory
from rest_framework_simplejwt.tokens import AccessToken

sys.path.insert(0, sys.argv[2])
spec = importlib.util.spec_from_file_location("authentication", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)


def mint(claims):
    token = AccessToken()
    token["user_id"] = 7
    for claim, value in claims.items():
        token[claim] = value
    return str(token)


def http(raw):
    request = RequestFactory().get("/api/records/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    try:
        user, _ = module.TenantAwareJWTAuthentication().authenticate(request)
    except Exception as error:
        detail = getattr(error, "detail", error)
        return f"{type(error).__name__}: {detail['detail'] if isinstance(detail, dict) else detail}"
    return f"user {user.username}"


def websocket(raw, schema):
    if not hasattr(module, "authenticate_websocket_jwt"):
        return "-"
    user = asyncio.run(module.authenticate_websocket_jwt(raw, schema))
    return "None" if user is None else f"user {user.username}"


tokens = {"tenant_a": mint({"tenant_schema": "tenant_a"}), "tenant_b": mint({"tenant_schema": "tenant_b"}),
          "no claim": mint({})}
connection.schema_name = "tenant_b"  # what django-tenants' middleware sets for tenant_b's host
for name, raw in tokens.items():
    print(f"on tenant_b, {name} token: http={http(raw)} | websocket={websocket(raw, 'tenant_b')}")
del connection.schema_name
for name, raw in tokens.items():
    print(f"no tenant, {name} token: http={http(raw)} | websocket={websocket(raw, None)}")
'''

REFUSED = "InvalidToken: Token not valid for current tenant"


def presented(path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", RUN, str(path), str(path.parent)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def fixed(path, code: str) -> str:
    engine = Engine(Config(root=str(path.parent), select=[code]), files=[str(path)])
    outcome = fix_source(engine, str(path), decode_source(path.read_bytes()), unsafe=True)
    assert outcome.dropped == [] and {d.code for d in outcome.fixed} == {code}
    return outcome.text


def write(folder, module: str):
    (folder / "tenant_users.py").write_text(TENANT_USERS, encoding="utf-8")
    path = folder / "authentication.py"
    path.write_text(module, encoding="utf-8")
    return path


def test_tl501_fix_refuses_another_tenants_token_and_keeps_accepting_the_tenants_own(tmp_path):
    path = write(tmp_path, AUTHENTICATION)
    assert presented(path) == [
        "on tenant_b, tenant_a token: http=user ann | websocket=user ann",  # the cross-tenant login
        "on tenant_b, tenant_b token: http=user ann | websocket=user ann",
        "on tenant_b, no claim token: http=user ann | websocket=user ann",
        "no tenant, tenant_a token: http=user ann | websocket=user ann",
        "no tenant, tenant_b token: http=user ann | websocket=user ann",
        "no tenant, no claim token: http=user ann | websocket=user ann",
    ]

    path.write_text(fixed(path, "TL501"), encoding="utf-8")
    assert presented(path) == [
        f"on tenant_b, tenant_a token: http={REFUSED} | websocket=None",
        "on tenant_b, tenant_b token: http=user ann | websocket=user ann",
        f"on tenant_b, no claim token: http={REFUSED} | websocket=None",  # fail closed: TL502 stays quiet
        # Without an active tenant `current_schema` is None: only a token without the claim matches it.
        f"no tenant, tenant_a token: http={REFUSED} | websocket=None",
        f"no tenant, tenant_b token: http={REFUSED} | websocket=None",
        "no tenant, no claim token: http=user ann | websocket=user ann",
    ]


def test_tl502_fix_makes_the_plans_patch_refuse_a_token_without_the_claim(tmp_path):
    path = write(tmp_path, PLAN_PATCH)
    before = presented(path)
    assert before[:3] == [
        f"on tenant_b, tenant_a token: http={REFUSED} | websocket=-",
        "on tenant_b, tenant_b token: http=user ann | websocket=-",
        "on tenant_b, no claim token: http=user ann | websocket=-",  # the check is skipped
    ]

    path.write_text(fixed(path, "TL502"), encoding="utf-8")
    after = presented(path)
    assert after[:3] == [
        f"on tenant_b, tenant_a token: http={REFUSED} | websocket=-",
        "on tenant_b, tenant_b token: http=user ann | websocket=-",
        f"on tenant_b, no claim token: http={REFUSED} | websocket=-",
    ]
    assert after[3:] == before[3:]  # with no active tenant the patch checked nothing, and still does not
