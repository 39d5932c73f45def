"""TL201 unscoped-cache-key: exact messages, severities and the rule's options."""

from __future__ import annotations

import textwrap

from lintutil import CASES, SAMPLE, lint, with_options
from tenantlint.diagnostics import Severity

CASE = CASES / "TL201"


def findings(diagnostics):
    return [(d.path.rsplit("/", 1)[-1], d.line, d.col, d.message, d.severity) for d in diagnostics]


def lint_source(tmp_path, source, options=None, settings=None, name="views.py"):
    if settings is not None:
        (tmp_path / "settings.py").write_text(textwrap.dedent(settings), encoding="utf-8")
    (tmp_path / name).write_text(textwrap.dedent(source), encoding="utf-8")
    diagnostics, errors = lint(tmp_path, select=["TL201"], root=tmp_path, options=options)
    assert errors == []
    return [d for d in diagnostics if d.path.endswith(name)]


def test_sample_project_reports_each_cache_call_of_the_plans_key():
    diagnostics, errors = lint(SAMPLE, select=["TL201"], root=SAMPLE)
    assert errors == []
    message = ('cache key f"user:{user_id}" (built at line 48) has no tenant component: tenants with the same '
               "user_id share this entry in cache.")
    assert findings(diagnostics) == [
        ("auth.py", 49, 26, message + "get", Severity.ERROR),
        ("auth.py", 62, 14, message + "set", Severity.ERROR),
    ]


def test_plan_issue2_messages():
    diagnostics, _ = lint(CASE / "plan_issue2.py", select=["TL201"])
    assert [(d.line, d.col, d.message) for d in diagnostics] == [
        (11, 26, 'cache key f"user:{user_id}" (built at line 10) has no tenant component: tenants with the same '
                 "user_id share this entry in cache.get"),
        (17, 25, 'cache key f"user:{user_id}" (built at line 10) has no tenant component: tenants with the same '
                 "user_id share this entry in cache.delete"),
        (21, 14, 'cache key f"user:{user_id}" (built at line 10) has no tenant component: tenants with the same '
                 "user_id share this entry in cache.set"),
    ]


def test_constant_key_is_a_warning_worded_for_a_shared_entry():
    diagnostics, _ = lint(CASE / "constant_keys.py", select=["TL201"])
    by_line = {d.line: d for d in diagnostics}
    assert by_line[11].message == (
        'cache key "feature_flags" has no tenant component: every tenant shares this one entry in cache.get; '
        "list it in public-cache-keys if it is meant to be shared")
    assert by_line[15].message.startswith('cache key "feature_flags" (built at line 4) has no tenant component')
    assert {d.severity for d in diagnostics} == {Severity.WARNING}


def test_helper_and_caches_alias_messages():
    diagnostics, _ = lint(CASE / "key_building.py", select=["TL201"])
    by_line = {d.line: d.message for d in diagnostics}
    assert by_line[71] == ('cache key f"user:{uid}" (built by user_key() at line 10) has no tenant component: '
                           "tenants with the same uid share this entry in cache.get")
    assert by_line[49] == ('cache key ":".join([PREFIX, kind, str(user_id)]) has no tenant component: '
                           "tenants with the same kind and user_id share this entry in cache.get")
    assert by_line[61].startswith('cache key f"user:{user_id}" (built at line 59) ')
    diagnostics, _ = lint(CASE / "caches_aliases.py", select=["TL201"])
    assert diagnostics[0].message == ('cache key f"session:{user_id}" has no tenant component: tenants with the '
                                      'same user_id share this entry in caches["sessions"].get')


def test_one_finding_per_call_at_the_key_argument(tmp_path):
    diagnostics = lint_source(tmp_path, """\
        from django.core.cache import cache

        def load(uid):
            return cache.get_many([f"user:{uid}", f"avatar:{uid}"])
        """)
    assert [(d.line, d.col) for d in diagnostics] == [(4, 26)]
    assert diagnostics[0].message.startswith('cache key f"user:{uid}" has no tenant component')


def test_helper_parameters_take_the_call_arguments(tmp_path):
    """The message names the parts as the displayed key spells them."""
    diagnostics = lint_source(tmp_path, """\
        from django.core.cache import cache
        from django.db import connection

        def make(kind, ident):
            return f"{kind}:{ident}"

        def scoped(uid):
            return cache.get(make("user", f"{connection.schema_name}:{uid}"))

        def unscoped(uid):
            return cache.get(make("user", uid))
        """)
    assert [(d.line, d.message) for d in diagnostics] == [
        (11, 'cache key f"{kind}:{ident}" (built by make() at line 5) has no tenant component: tenants with '
             "the same ident share this entry in cache.get"),
    ]


def test_tenant_scope_names_option(tmp_path):
    source = """\
        from django.core.cache import cache

        def by_org(org, uid):
            return cache.get(f"user:{org.pk}:{uid}")

        def by_tenant(tenant, uid):
            return cache.get(f"user:{tenant.pk}:{uid}")
        """
    assert [d.line for d in lint_source(tmp_path, source)] == [4]
    assert [d.line for d in lint_source(tmp_path, source, with_options(tenant_scope_names=("org",)))] == [7]


def test_scope_names_match_whole_underscore_separated_words(tmp_path):
    diagnostics = lint_source(tmp_path, """\
        from django.core.cache import cache

        def words(current_tenant, maintenance, uid):
            cache.get(f"a:{current_tenant}:{uid}")
            cache.get(f"b:{get_tenant_prefix()}:{uid}")
            cache.get(f"c:{maintenance}:{uid}")
        """)
    assert [d.line for d in diagnostics] == [6]


def test_public_cache_keys_option(tmp_path):
    source = """\
        from django.core.cache import cache

        def shared(lang, uid):
            cache.get("feature_flags")
            cache.get(f"site-config:{lang}")
            cache.get(f"user:{uid}")
        """
    assert [d.line for d in lint_source(tmp_path, source)] == [4, 5, 6]
    options = with_options(public_cache_keys=("feature_*", "site-config:*"))
    assert [d.line for d in lint_source(tmp_path, source, options)] == [6]


CODE_USING_TWO_ALIASES = """\
    from django.core.cache import cache, caches

    def load(uid):
        cache.get(f"user:{uid}")
        caches["sessions"].get(f"user:{uid}")
    """


def test_tenant_key_function_silences_only_its_alias(tmp_path):
    settings = """\
        CACHES = {
            "default": {"KEY_FUNCTION": "django_tenants.cache.make_key", "KEY_PREFIX": "crm"},
            "sessions": {"KEY_PREFIX": "crm"},
        }
        """
    assert [d.line for d in lint_source(tmp_path, CODE_USING_TWO_ALIASES, settings=settings)] == [5]


def test_tenant_key_functions_option_adds_to_the_known_ones(tmp_path):
    settings = """\
        CACHES = {
            "default": {"KEY_FUNCTION": "tenant_schemas.cache.make_key"},
            "sessions": {"KEY_FUNCTION": "project.cache.tenant_key"},
        }
        """
    assert [d.line for d in lint_source(tmp_path, CODE_USING_TWO_ALIASES, settings=settings)] == [5]
    options = with_options(tenant_key_functions=("project.cache.tenant_key",))
    assert lint_source(tmp_path, CODE_USING_TWO_ALIASES, options, settings=settings) == []


def test_key_prefix_alone_does_not_scope(tmp_path):
    settings = 'CACHES = {"default": {"KEY_PREFIX": "tenant"}}\n'
    assert [d.line for d in lint_source(tmp_path, CODE_USING_TWO_ALIASES, settings=settings)] == [4, 5]


def test_long_reassignment_chains_stay_fast(tmp_path):
    lines = ["from django.core.cache import cache", "", "def load(uid):", '    key = f"user:{uid}"']
    lines += ['    key = key + ":x"'] * 300
    lines += ["    return cache.get(key)", ""]
    (tmp_path / "chain.py").write_text("\n".join(lines), encoding="utf-8")
    diagnostics, errors = lint(tmp_path / "chain.py", select=["TL201"])
    assert errors == []
    assert [d.line for d in diagnostics] == [305]
