"""Exact messages, positions and severities of TL301, TL302 and TL303."""

from __future__ import annotations

from lintutil import CASES, lint, with_options
from tenantlint.diagnostics import Severity


def found(path, code, **kwargs):
    diagnostics, errors = lint(path, select=[code], **kwargs)
    assert errors == []
    return [(d.path.rsplit("cases/", 1)[-1], d.line, d.col, d.message, d.severity) for d in diagnostics]


def test_tl301_message_and_severity():
    assert found(CASES / "TL301" / "settings_plan_issue3.py", "TL301") == [(
        "TL301/settings_plan_issue3.py", 5, 8,
        "'SessionAuthentication' (session) is a default authentication class beside 'TenantAwareJWTAuthentication' "
        "(token): a request without a valid token is authenticated by the browser's session cookie instead; "
        "set session authentication per view",
        Severity.WARNING,
    )]


def test_tl302_commented_entry_message():
    results = found(CASES / "TL302" / "settings_plan_issue4.py", "TL302")
    assert [r[1:4] for r in results] == [
        (9, 4, "middleware 'authentication.middleware.AsyncSessionAuthenticationMiddleware' is commented out of MIDDLEWARE, so it never runs"),
        (10, 4, "middleware 'authentication.middleware.AsyncTenantMiddleware' is commented out of MIDDLEWARE, so it never runs"),
        (11, 4, "middleware 'authentication.middleware.AsyncPermissionMiddleware' is commented out of MIDDLEWARE, so it never runs"),
    ]
    assert {r[4] for r in results} == {Severity.WARNING}


def test_tl302_misspelt_setting_messages():
    assert [r[1:4] for r in found(CASES / "TL302" / "settings_misspelt.py", "TL302")] == [
        (1, 0, "'MMIDDLEWARE' is not a Django setting (did you mean 'MIDDLEWARE'?); Django ignores it, so none of these middleware run"),
        (4, 0, "'MIDDLEWARES' is not a Django setting (did you mean 'MIDDLEWARE'?); Django ignores it, so none of these middleware run"),
    ]
    assert [r[3] for r in found(CASES / "TL302" / "settings_middleware_classes.py", "TL302")] == [
        "MIDDLEWARE_CLASSES is ignored since Django 2.0 and no MIDDLEWARE is set, so none of these middleware run"]


def test_split_settings_finding_names_the_leaf():
    results = found(CASES / "TL302" / "split_base", "TL302", root=CASES / "TL302" / "split_base")
    assert [r[:4] for r in results] == [
        ("TL302/split_base/config/settings/base.py", 3, 4,
         "middleware 'django.contrib.sessions.middleware.SessionMiddleware' is commented out of MIDDLEWARE, "
         "so it never runs (as production.py leaves the settings)"),
        ("TL302/split_base/config/settings/production.py", 5, 4,
         "middleware 'django.contrib.auth.middleware.AuthenticationMiddleware' is commented out of MIDDLEWARE, "
         "so it never runs"),
    ]


def test_tl302_stale_entry_is_info_without_fix():
    case = CASES / "TL302" / "stale_entries"
    diagnostics, errors = lint(case, select=["TL302"], root=case)
    assert errors == []
    stale = ("commented out of MIDDLEWARE names nothing the project still defines: a stale line to delete, "
             "not to uncomment (Django would fail to start)")
    assert [(d.line, d.message, d.severity, d.fix is None) for d in diagnostics] == [
        (5, f"middleware 'shop.middleware.context.ContextMiddleware' {stale}", Severity.INFO, True),
        (6, f"middleware 'shop.middleware.tenant.RoleMiddleware' {stale}", Severity.INFO, True),
        (7, "middleware 'shop.middleware.tenant.audit_middleware' is commented out of MIDDLEWARE, so it never runs",
         Severity.WARNING, False),
    ]


def test_tl303_messages_and_severity():
    order = found(CASES / "TL303" / "settings_security_first.py", "TL303")
    assert order == [("TL303/settings_security_first.py", 4, 4,
                      "tenant middleware 'TenantMainMiddleware' must be first in MIDDLEWARE: "
                      "'SecurityMiddleware' runs before it, on the previous request's schema", Severity.ERROR)]
    session = found(CASES / "TL303" / "settings_after_session.py", "TL303")
    assert session[0][3] == ("tenant middleware 'TenantSubfolderMiddleware' must be first in MIDDLEWARE: 'SessionMiddleware' "
                             "runs before it and loads the session or user on the previous request's schema")
    missing = found(CASES / "TL303" / "settings_missing.py", "TL303")
    assert missing[0][1:4] == (3, 0, "MIDDLEWARE has no tenant middleware although this is a django-tenants project: every "
                               "request runs on the public schema; add 'django_tenants.middleware.main.TenantMainMiddleware' first")
    user = found(CASES / "TL303" / "subclasses" / "project" / "settings_user_tenant_too_early.py", "TL303",
                 root=CASES / "TL303" / "subclasses")
    assert user[0][3] == ("'UserTenantMiddleware' chooses the tenant from request.user, so it must come after "
                          "'AuthenticationMiddleware', which is not before it")


def test_tenant_middleware_option_adds_a_class(tmp_path):
    settings = tmp_path / "settings.py"
    settings.write_text('INSTALLED_APPS = ["django_tenants"]\nMIDDLEWARE = ["a.Security", "vendor.tenancy.HostMiddleware"]\n')
    assert [r[1] for r in found(settings, "TL303")] == [2]  # missing: the vendor class is unknown
    options = with_options(tenant_middleware=("vendor.tenancy.HostMiddleware",))
    assert [r[3] for r in found(settings, "TL303", options=options)] == [
        "tenant middleware 'HostMiddleware' must be first in MIDDLEWARE: 'Security' runs before it, on the previous request's schema"]


def test_settings_modules_option_reads_an_oddly_named_module(tmp_path):
    conf = tmp_path / "deploy" / "conf.py"
    conf.parent.mkdir()
    conf.write_text('INSTALLED_APPS = ["django_tenants"]\nMIDDLEWARE = ["a.A", "django_tenants.middleware.TenantMainMiddleware"]\n')
    assert found(conf, "TL303", root=tmp_path) == []
    results = found(conf, "TL303", root=tmp_path, settings_modules=["deploy/conf.py"])
    assert [r[1] for r in results] == [2]


def test_tl302_offers_no_fix_for_a_middleware_whose_shape_does_not_fit_django():
    """Put back as it is, a middleware Django cannot build with get_response, or call with the request,
    or whose hooks take other arguments than Django passes, fails every request: said, not fixed."""
    case = CASES / "TL302" / "broken_shapes"
    diagnostics, errors = lint(case, select=["TL302"], root=case)
    assert errors == []
    broken = ("is commented out of MIDDLEWARE, so it never runs, and it looks broken: {}; put back as it is, every "
              "request would fail with a TypeError, so no fix is offered: repair it first")
    assert [(d.line, d.message, d.fix is None) for d in diagnostics] == [
        (5, "middleware 'crm.middleware.NoRequest' " + broken.format(
            "NoRequest.__call__ does not take the one argument (the request) Django calls it with"), True),
        (6, "middleware 'crm.middleware.NoGetResponse' " + broken.format(
            "NoGetResponse.__init__ does not take the one argument (get_response) Django builds it with"), True),
        (7, "middleware 'crm.middleware.HookArity' " + broken.format(
            "HookArity.process_view does not take the 4 arguments Django passes it"), True),
        (8, "middleware 'crm.middleware.PlainObject' " + broken.format("PlainObject has no __init__ taking get_response"),
         True),
        (9, "middleware 'crm.middleware.bad_factory' " + broken.format(
            "bad_factory() does not take the one argument (get_response) Django builds it with"), True),
        (10, "middleware 'crm.middleware.bad_inner' " + broken.format(
            "the middleware() it returns does not take the one argument (the request) Django calls it with"), True),
        # near misses: they fit (a class of an installed base is not in view, so it is not judged)
        *[(line, f"middleware 'crm.middleware.{name}' is commented out of MIDDLEWARE, so it never runs", False)
          for line, name in ((11, "NewStyle"), (12, "MixinHooks"), (13, "Inherited"), (14, "good_factory"),
                             (15, "InstalledBase"))],
    ]
