"""Fuzzing: generated programs through the engine and the fixers, and a no-crash run over site-packages.

CI runs a bounded number of examples; the longer profile is
`TENANTLINT_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py`.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig

import hypothesmith
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenantlint.config import Config
from tenantlint.engine import Engine
from tenantlint.fixing import fix_source
from tenantlint.sourcefile import SourceText

EXAMPLES = int(os.environ.get("TENANTLINT_FUZZ_EXAMPLES", "25"))
PROFILE = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=EXAMPLES <= 25)

# snippets every rule reacts to, spliced into generated programs so the fixers have work
SNIPPETS = [
    "MIDDLEWARE = [\n    'django.middleware.security.SecurityMiddleware',\n    # 'django.contrib.auth.middleware.AuthenticationMiddleware',\n]\n",
    "INSTALLED_APPS = ['django_tenants']\nMIDDLEWARE = [\n    'a.b.C',\n    'django_tenants.middleware.main.TenantMainMiddleware',\n]\n",
    "REST_FRAMEWORK = {'DEFAULT_AUTHENTICATION_CLASSES': [\n    'rest_framework_simplejwt.authentication.JWTAuthentication',\n"
    "    'rest_framework.authentication.SessionAuthentication',\n]}\n",
    "from django.core.cache import cache\n\n\ndef get_user(user_id):\n    key = f'user:{user_id}'\n    return cache.get(key)\n",
    "from django.utils.deprecation import MiddlewareMixin\n\n\nclass M(MiddlewareMixin):\n"
    "    def process_request(self, request):\n        self.user = request.user\n",
]


def engine_for(tmp_path) -> Engine:
    return Engine(Config(root=str(tmp_path), select=["ALL"]), files=[str(tmp_path / "settings.py")])


@PROFILE
@given(source=hypothesmith.from_grammar())
def test_engine_never_crashes_on_generated_programs(tmp_path_factory, source):
    tmp_path = tmp_path_factory.mktemp("fuzz")
    engine = engine_for(tmp_path)
    result = engine.check_text(str(tmp_path / "settings.py"), SourceText(source, "utf-8", False))
    assert result.errors == []


@PROFILE
@given(source=hypothesmith.from_grammar(), snippet=st.sampled_from(SNIPPETS), before=st.booleans())
def test_fixers_keep_generated_programs_valid(tmp_path_factory, source, snippet, before):
    tmp_path = tmp_path_factory.mktemp("fuzzfix")
    try:
        ast.parse(source)
    except SyntaxError:
        return
    text = snippet + "\n" + source if before else source.rstrip("\n") + "\n\n" + snippet
    try:
        ast.parse(text)
    except SyntaxError:
        return  # the generated program ends inside something the snippet cannot follow
    path = str(tmp_path / "settings.py")
    engine = engine_for(tmp_path)
    outcome = fix_source(engine, path, SourceText(text, "utf-8", False), unsafe=True)
    assert outcome.result.errors == []
    ast.parse(outcome.text)
    again = fix_source(engine_for(tmp_path), path, SourceText(outcome.text, "utf-8", False), unsafe=True)
    assert again.text == outcome.text


def test_no_crash_over_site_packages():
    """Every .py file of the test environment's site-packages: findings are fine, internal errors are not."""
    site = sysconfig.get_paths()["purelib"]
    result = subprocess.run([sys.executable, "-m", "tenantlint", "check", "--no-cache", "--exit-zero", "--select", "ALL",
                             "--output-format", "concise", site], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "internal error" not in result.stderr
