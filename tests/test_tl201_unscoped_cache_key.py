"""TL201 unscoped-cache-key: exact messages, severities and the rule's options."""

from __future__ import annotations

import textwrap

import pytest
from lintutil import CASES, SAMPLE, lint, with_options

from tenantlint.diagnostics import Applicability, Severity
from tenantlint.rules.cache.key_shapes import FixTarget

CASE = CASES / "TL201"


def findings(diagnostics):
    return [(d.path.rsplit("/", 1)[-1], d.line, d.col, d.message, d.severity) for d in diagnostics]


def uses(diagnostic):
    """The related places of a finding: (line, column, message)."""
    return [(r.location.line, r.location.col, r.message) for r in diagnostic.related]


def lint_source(tmp_path, source, options=None, settings=None, name="views.py"):
    if settings is not None:  # a schema-per-tenant project: ids repeat in every schema
        settings = 'INSTALLED_APPS = ["django_tenants"]\n' + textwrap.dedent(settings)
        (tmp_path / "settings.py").write_text(settings, encoding="utf-8")
    (tmp_path / name).write_text(textwrap.dedent(source), encoding="utf-8")
    diagnostics, errors = lint(tmp_path, select=["TL201"], root=tmp_path, options=options)
    assert errors == []
    return [d for d in diagnostics if d.path.endswith(name)]


NO_FIX_IN_ASYNC = ("; no fix offered: in async code the connection's schema is not the request's tenant, "
                   "take the tenant from the request or the consumer's scope")


def test_sample_project_reports_the_plans_key_once_where_it_is_built():
    diagnostics, errors = lint(SAMPLE, select=["TL201"], root=SAMPLE)
    assert errors == []
    assert findings(diagnostics) == [
        ("auth.py", 48, 16, 'cache key f"user:{user_id}" has no tenant component: tenants with the same user_id '
                            "share this entry in cache.get (line 49) and cache.set (line 62)" + NO_FIX_IN_ASYNC,
         Severity.ERROR),
    ]
    assert uses(diagnostics[0]) == [(49, 26, "used by cache.get"), (62, 14, "used by cache.set")]


def test_plan_issue2_messages():
    diagnostics, _ = lint(CASE / "plan_issue2.py", select=["TL201"])
    assert [(d.line, d.col, d.message) for d in diagnostics] == [
        (10, 16, 'cache key f"user:{user_id}" has no tenant component: tenants with the same user_id share this '
                 "entry in cache.get (line 11), cache.delete (line 17) and cache.set (line 21)" + NO_FIX_IN_ASYNC),
    ]
    assert uses(diagnostics[0]) == [(11, 26, "used by cache.get"), (17, 25, "used by cache.delete"),
                                    (21, 14, "used by cache.set")]


def test_constant_key_is_a_warning_worded_for_a_shared_entry():
    diagnostics, _ = lint(CASE / "constant_keys.py", select=["TL201"])
    by_line = {d.line: d for d in diagnostics}
    assert by_line[11].message == (
        'cache key "feature_flags" has no tenant component: every tenant shares this one entry in cache.get; '
        "list it in public-cache-keys if it is meant to be shared")
    assert by_line[4].message == (  # the module constant, where it is defined
        'cache key "feature_flags" has no tenant component: every tenant shares this one entry in cache.get '
        "(line 15); list it in public-cache-keys if it is meant to be shared")
    assert uses(by_line[4]) == [(15, 21, "used by cache.get")] and uses(by_line[11]) == []
    assert {d.severity for d in diagnostics} == {Severity.WARNING}


def test_helper_and_caches_alias_messages():
    diagnostics, _ = lint(CASE / "key_building.py", select=["TL201"])
    by_line = {d.line: d.message for d in diagnostics}
    assert by_line[10] == ('cache key f"user:{uid}" has no tenant component: '  # in the helper
                           "tenants with the same uid share this entry in cache.get (line 71)")
    assert by_line[49] == ('cache key ":".join([PREFIX, kind, str(user_id)]) has no tenant component: '
                           "tenants with the same kind and user_id share this entry in cache.get")
    assert by_line[59].startswith('cache key f"user:{user_id}" has no tenant component')  # `key += ...` after it
    diagnostics, _ = lint(CASE / "caches_aliases.py", select=["TL201"])
    assert diagnostics[0].message == ('cache key f"session:{user_id}" has no tenant component: tenants with the '
                                      'same user_id share this entry in caches["sessions"].get')


def test_one_finding_per_call_at_the_key_argument(tmp_path):
    diagnostics = lint_source(tmp_path, """\
        from django.core.cache import cache

        def load(uid):
            return cache.get_many([f"user:{uid}", f"avatar:{uid}"])
        """)
    assert [(d.line, d.col) for d in diagnostics] == [(4, 27)]
    assert diagnostics[0].message.startswith('cache key f"user:{uid}" has no tenant component')


def test_one_finding_per_key_however_many_calls_use_it(tmp_path):
    diagnostics = lint_source(tmp_path, """\
        from django.core.cache import cache

        def presence_key(user_id):
            return f"presence:{user_id}"

        def join(user_id):
            cache.set(presence_key(user_id), True)

        def leave(user_id):
            cache.delete(presence_key(user_id))

        def seen(user_id):
            return cache.get(presence_key(user_id))

        def typing(user_id):
            cache.touch(presence_key(user_id))
        """)
    assert [(d.line, d.col, d.message) for d in diagnostics] == [
        (4, 11, 'cache key f"presence:{user_id}" has no tenant component: tenants with the same user_id share this '
                "entry in cache.set (line 7), cache.delete (line 10) and 2 other calls")]
    assert [line for line, _, _ in uses(diagnostics[0])] == [7, 10, 13, 16]


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
        (5, 'cache key f"{kind}:{ident}" has no tenant component: tenants with '
            "the same ident share this entry in cache.get (line 11)"),
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


# -- the fix: where detection tells the codemod to add the schema -------------------------------
def fix_plan(diagnostics):
    """line → (applicability, [(mode, line of the rewritten expression, its text)]) or None when not fixable."""
    return {d.line: (d.fix.applicability.value, [(t.mode, t.line, t.text) for t in d.fix.targets]) if d.fix else None
            for d in diagnostics}


def test_fix_rewrites_the_local_builder_once_for_every_call_using_it(tmp_path):
    sync = tmp_path / "plan_issue2_sync.py"
    sync.write_text((CASE / "plan_issue2.py").read_text().replace("async def", "def").replace("await ", ""))
    diagnostics, _ = lint(sync, select=["TL201"])
    target = FixTarget(10, 16, 10, 33, 'f"user:{user_id}"', mode="insert")
    assert [(d.line, d.fix.message, d.fix.applicability, d.fix.targets) for d in diagnostics] == [
        (10, "Add the schema name to the cache key", Applicability.SAFE, (target,))
    ]
    assert all(d.fix.is_codemod for d in diagnostics)


def test_no_fix_in_async_code_where_the_schema_is_the_event_loop_threads():
    diagnostics, _ = lint(CASE / "plan_issue2.py", select=["TL201"])
    assert [(d.line, d.fix) for d in diagnostics] == [(10, None)]


def test_fix_targets_follow_the_key_to_where_it_is_built():
    diagnostics, _ = lint(CASE / "key_building.py", select=["TL201"])
    plan = fix_plan(diagnostics)
    assert plan[25] == ("safe", [("insert", 25, '"user:%s" % user_id')])
    assert plan[29] == ("safe", [("insert", 29, "USER_KEY % user_id")])  # the codemod wraps it: the template is a constant
    assert plan[53] == ("safe", [("insert", 53, 'f"{PREFIX}:user:{user_id}"')])
    assert plan[59] == ("safe", [("insert", 59, '"user:"')])  # `key += str(user_id)` follows it
    assert plan[65] == ("safe", [("insert", 65, 'f"user:{user_id}"')])
    assert plan[10] == ("safe", [("insert", 10, 'f"user:{uid}"')])  # inside the helper
    assert plan[14] == ("safe", [("insert", 14, 'f"{key}:v{version}"')])  # the helper the message names
    assert plan[21] == ("safe", [("insert", 21, '"score:" + str(uid)')])  # the lambda's body
    assert plan[102] == ("safe", [("insert", 102, 'f"user:{user_id}"')])


def test_constant_keys_get_an_unsafe_fix_and_module_constants_are_scoped_at_the_call():
    diagnostics, _ = lint(CASE / "constant_keys.py", select=["TL201"])
    assert fix_plan(diagnostics) == {
        7: None,  # runs at import: no tenant to add
        11: ("unsafe", [("insert", 11, '"feature_flags"')]),
        4: ("unsafe", [("wrap", 15, "FLAGS_KEY")]),  # reported at the constant, scoped where it is used
        19: ("unsafe", [("insert", 19, 'f"{PREFIX}:menu"')]),
        23: ("unsafe", [("insert", 23, '"signups"')]),
    }


def test_keys_that_several_assignments_or_returns_may_build_are_scoped_at_the_call(tmp_path):
    diagnostics = lint_source(tmp_path, """\
        from django.core.cache import cache

        def kind_key(kind, uid):
            if kind == "admin":
                return f"admin:{uid}"
            return f"member:{uid}"

        def branches(uid, shared):
            if shared:
                key = f"shared:{uid}"
            else:
                key = f"user:{uid}"
            return cache.get(key)

        def helper(kind, uid):
            return cache.get(kind_key(kind, uid))

        def guarded_helper(uid):
            key = None
            if uid:
                key = f"user:{uid}"
            return cache.get(key)
        """)
    assert fix_plan(diagnostics) == {
        13: ("safe", [("wrap", 13, "key")]),
        16: ("safe", [("wrap", 16, "kind_key(kind, uid)")]),
        21: ("safe", [("insert", 21, 'f"user:{uid}"')]),  # `None` builds no key
    }


def test_set_many_fix_covers_every_unscoped_key_of_the_call(tmp_path):
    diagnostics = lint_source(tmp_path, """\
        from django.core.cache import cache
        from django.db import connection

        def store(user):
            cache.set_many({
                f"user:{user.pk}": user,
                f"user:{connection.schema_name}:{user.pk}:scoped": user,
                f"avatar:{user.pk}": user.avatar,
            })
        """)
    assert fix_plan(diagnostics) == {
        6: ("safe", [("insert", 6, 'f"user:{user.pk}"'), ("insert", 8, 'f"avatar:{user.pk}"')]),
    }


def test_no_fix_at_import_for_get_many_or_for_a_key_list_built_in_several_places(tmp_path):
    diagnostics = lint_source(tmp_path, """\
        from django.core.cache import cache

        KEY = "flags"
        cache.set(KEY, 1)


        class Settings:
            loaded = cache.get(f"settings:{KEY}")


        def read_many(ids):
            found = cache.get_many([f"user:{i}" for i in ids])
            return [found.get(f"user:{i}") for i in ids]


        async def read_many_async(ids):
            return await cache.aget_many([f"user:{i}" for i in ids])


        def delete_either(ids, admins):
            if admins:
                keys = [f"admin:{i}" for i in ids]
            else:
                keys = [f"user:{i}" for i in ids]
            cache.delete_many(keys)


        def delete_one_list(ids):
            keys = [f"member:{i}" for i in ids]
            cache.delete_many(keys)


        def delete_a_key_read_unfixed(ids):
            keys = [f"user:{i}" for i in ids]
            cache.delete_many(keys)
        """)
    assert fix_plan(diagnostics) == {
        3: None, 8: None, 12: None, 17: None, 24: None,
        29: ("safe", [("insert", 29, 'f"member:{i}"')]),
        # `user:{}` keys are read by get_many, which gets no fix: deleting fixed keys would miss them
        34: None,
    }


def test_the_codemod_refuses_a_module_where_the_key_has_moved():
    import libcst

    from tenantlint.rules.cache.key_fix import FixNotApplicable, add_schema

    module = libcst.parse_module('from django.core.cache import cache\n\n\ndef load(uid):\n    return cache.get(f"u:{uid}")\n')
    moved = FixTarget(5, 21, 5, 31, 'f"user:{uid}"', mode="insert")
    with pytest.raises(FixNotApplicable):
        add_schema(module, [moved])
    here = FixTarget(5, 21, 5, 31, 'f"u:{uid}"', mode="insert")
    assert "f\"{getattr(connection, 'schema_name', 'public')}:u:{uid}\"" in add_schema(module, [here]).code


def test_a_schema_read_in_async_code_is_not_a_tenant_component():
    diagnostics, _ = lint(CASE / "async_schema_read.py", select=["TL201"])
    assert [(d.line, d.col, d.message, d.severity, d.fix) for d in diagnostics] == [
        (8, 10, 'cache key f"notifications:{connection.schema_name}:{user_id}" reads '
                "connection.schema_name in async code, where the connection is the event loop thread's and its "
                "schema is 'public' for every tenant: tenants share this entry in cache.aget (line 9); no fix "
                "offered: take the tenant from the request or the consumer's scope", Severity.ERROR, None),
        (13, 21, "cache key f\"{getattr(connection, 'schema_name', 'public')}:flags\" reads getattr(connection, "
                 "'schema_name', 'public') in async code, where the connection is the event loop thread's and its "
                 "schema is 'public' for every tenant: tenants share this entry in cache.get; no fix offered: take "
                 "the tenant from the request or the consumer's scope", Severity.ERROR, None),
    ]


def test_a_tenant_key_function_does_not_reach_sync_cache_calls_in_async_code():
    diagnostics, _ = lint(CASE / "tenant_key_function", select=["TL201"], root=CASE / "tenant_key_function")
    consumers = [(d.line, d.col, d.message, d.fix) for d in diagnostics if d.path.endswith("consumers.py")]
    message = ('cache key f"presence:{user_id}" is prefixed by the cache\'s tenant KEY_FUNCTION, but cache.METHOD runs '
               "in async code, where the connection's schema is the event loop thread's ('public' for every "
               "tenant): tenants share this entry; no fix offered")
    assert consumers == [(12, 18, message.replace("METHOD", "set"), None), (22, 21, message.replace("METHOD", "delete"), None)]


def test_keys_are_followed_into_methods_init_and_sync_to_async():
    diagnostics, _ = lint(CASE / "across_functions.py", select=["TL201"])
    assert [(d.line, d.col, d.message, d.fix.targets if d.fix else None, uses(d)) for d in diagnostics] == [
        (9, 19, 'cache key f"presence:{user_id}" has no tenant component: tenants with the same user_id share this '
                "entry in cache.set (line 15) and cache.delete (line 18)",
         (FixTarget(9, 19, 9, 40, 'f"presence:{user_id}"', mode="insert"),),
         [(15, 18, "used by cache.set"), (18, 21, "used by cache.delete")]),
        (12, 15, 'cache key f"doc_presence:{document_id}" has no tenant component: tenants with the same document_id '
                 "share this entry in cache.set (line 21)",
         (FixTarget(12, 15, 12, 44, 'f"doc_presence:{document_id}"', mode="insert"),), [(21, 18, "used by cache.set")]),
        (25, 11, 'cache key f"profile:{user_id}" has no tenant component: tenants with the same user_id share this '
                 "entry in cache.get (line 29)",
         (FixTarget(25, 11, 25, 31, 'f"profile:{user_id}"', mode="insert"),), [(29, 36, "used by cache.get")]),
    ]


def test_a_key_built_by_another_project_modules_function_is_reported_at_the_call_without_a_fix():
    case = CASE / "imported_helpers"
    diagnostics, _ = lint(case / "shop" / "views.py", select=["TL201"], root=case)
    message = ('cache key f"shop:product:{product_id}" (built by shop.keys.product_key() in keys.py) has no tenant '
               "component: tenants with the same product_id share this entry in cache.get; no fix offered: add the "
               "tenant where the key is built")
    assert [(d.line, d.col, d.message, d.fix) for d in diagnostics] == [(9, 21, message, None), (13, 21, message, None)]


def test_the_uses_of_one_key_are_fixed_alike_or_not_at_all(tmp_path):
    """However a key is spelled, its uses meet after the fix (the schema leads every fixed key); a use that
    cannot be fixed takes the fix from the others, and a call the fix does not rewrite makes it unsafe."""
    diagnostics = lint_source(tmp_path, """\
        from django.core.cache import cache


        def join(doc, user_id):
            presence_key = f"doc_presence:{doc}"
            cache.set(f"{presence_key}:{user_id}", True, 60)


        def leave(doc, user):
            cache.delete(f"doc_presence:{doc}:{user}")


        def notify(user_id):
            cache.set(f"notifications:{user_id}", 1)


        async def unread(user_id):
            return await cache.aget(f"notifications:{user_id}")


        def remember(user_id):
            cache.set(f"visits:{user_id}", 1)


        def visits_left(user_id):
            return cache.ttl(f"visits:{user_id}")


        def profile(user_id):
            return cache.get(f"profile:{user_id}")


        def scan(doc):
            return cache.keys(f"doc_presence:{doc}:*")
        """)
    plan = fix_plan(diagnostics)
    scanned = "; the fix is unsafe: cache.keys (line 34) reaches this key by its text and is not rewritten"
    assert plan == {
        6: ("unsafe", [("insert", 6, 'f"{presence_key}:{user_id}"')]),
        10: ("unsafe", [("insert", 10, 'f"doc_presence:{doc}:{user}"')]),
        14: None, 18: None,
        22: ("unsafe", [("insert", 22, 'f"visits:{user_id}"')]),
        30: ("safe", [("insert", 30, 'f"profile:{user_id}"')]),
    }
    messages = {d.line: d.message for d in diagnostics}
    assert messages[6].endswith(scanned) and messages[10].endswith(scanned)
    assert messages[14].endswith("; no fix offered: the same key is also used by aget on line 18, which cannot be "
                                 "fixed, and fixing only some of its uses would separate them")
    assert messages[18].endswith(NO_FIX_IN_ASYNC)
    assert messages[22].endswith("; the fix is unsafe: cache.ttl (line 26) reaches this key by its text and is "
                                 "not rewritten")


def test_no_schema_fix_where_every_tenant_shares_one_schema(tmp_path):
    """Row-level tenancy: the schema segment would be `public` for every tenant; the key is reported, the
    fix is left to the author (the tenant's id, which the code around the key does not name)."""
    (tmp_path / "settings.py").write_text('INSTALLED_APPS = ["django_multitenant", "shop"]\n', encoding="utf-8")
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "models.py").write_text(textwrap.dedent("""\
        from django.db import models
        from django_multitenant.models import TenantModel


        class Account(TenantModel):
            name = models.CharField(max_length=50)


        class Order(TenantModel):
            account = models.ForeignKey(Account, on_delete=models.CASCADE)
        """))
    diagnostics = lint_source(tmp_path, """\
        from django.core.cache import cache

        from shop.models import Order


        def dashboard():
            totals = cache.get("dashboard:totals")
            if totals is None:
                totals = Order.objects.count()
                cache.set("dashboard:totals", totals)
            return totals
        """)
    assert [(d.line, d.fix) for d in diagnostics] == [(7, None), (10, None)]
    assert diagnostics[0].message.endswith(
        "; no fix offered: with row-level tenancy every tenant shares one schema, so a schema segment would change "
        "nothing: add the tenant's id where the key is built")


def test_a_key_whose_words_say_it_is_shared_gets_no_safe_fix(tmp_path):
    diagnostics = lint_source(tmp_path, """\
        from django.core.cache import cache


        def page(page_id):
            return cache.get(f"public:page:{page_id}")


        def banner(site_id):
            return cache.get(f"site:{site_id}:banner")


        def profile(user_id):
            return cache.get(f"profile:{user_id}")


        def publication(pub_id):
            return cache.get(f"publication:{pub_id}")
        """)
    assert {line: plan and plan[0] for line, plan in fix_plan(diagnostics).items()} == {
        5: "unsafe", 9: "unsafe", 13: "safe", 17: "safe"}
