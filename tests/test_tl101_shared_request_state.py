"""TL101 shared-request-state: exact messages, severities, positions and options."""

from __future__ import annotations

import textwrap

from lintutil import CASES, SAMPLE, lint, with_options
from tenantlint.diagnostics import Severity

CASE = CASES / "TL101"
OVERWRITE = "so concurrent requests overwrite each other"


def findings(path, **kwargs):
    diagnostics, errors = lint(path, select=["TL101"], **kwargs)
    assert errors == []
    return [(d.path.rsplit("/", 1)[-1], d.line, d.col, d.severity, d.message) for d in diagnostics]


def write(tmp_path, source, name="module.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_sample_project_has_exactly_the_plans_issue_1():
    assert findings(SAMPLE / "backend", root=SAMPLE) == [(
        "jwt_authentication.py", 19, 8, Severity.WARNING,
        "request-derived value stored on self._current_request in authenticator 'TenantAwareJWTAuthentication': "
        "DRF builds authenticators per request, so this is a latent hazard rather than a live race, until the "
        "instance is shared (module-level instance, caching)",
    )]


def test_middleware_message_names_the_kind_and_the_sharing():
    found = findings(CASE / "middleware_new_style.py")
    assert found[0] == (
        "middleware_new_style.py", 21, 8, Severity.ERROR,
        "request-derived value stored on self._current_request in middleware 'CurrentRequestMiddleware': "
        f"one instance serves every request in the process, {OVERWRITE}",
    )
    setattr_finding = next(f for f in found if f[1] == 27)
    assert setattr_finding[2:] == (
        8, Severity.ERROR,
        "request-derived value stored on self.tenant in middleware 'CurrentRequestMiddleware': "
        f"one instance serves every request in the process, {OVERWRITE}",
    )
    append_finding = next(f for f in found if f[1] == 28)
    assert append_finding[4] == (
        "request-derived value added to self.log in middleware 'CurrentRequestMiddleware': "
        "one instance serves every request in the process, so every request's data collects in it"
    )


def test_channels_middleware_speaks_of_connections():
    found = findings(CASE / "channels_middleware.py")
    assert found[0][1:] == (
        8, 8, Severity.ERROR,
        "request-derived value stored on self.scope in Channels middleware 'TokenMiddleware': one instance serves "
        "every connection in the process, so concurrent connections overwrite each other",
    )
    messages = {line: message for _, line, _, _, message in found}
    assert messages[25].startswith("request-derived value stored on self.headers in ASGI application 'RawAsgi")
    assert messages[36].startswith("request-derived value stored on self.query in ASGI application 'QueryAuth")


def test_admin_and_admin_site_messages():
    found = {line: (severity, message) for _, line, _, severity, message in findings(CASE / "admin_views.py")}
    assert found[12] == (
        Severity.ERROR,
        "request-derived value stored on self.request in admin 'RecordAdmin': the admin site keeps one instance "
        f"per model for the whole process, {OVERWRITE}",
    )
    assert found[56] == (
        Severity.ERROR,
        "request-derived value stored on self.tenant in admin site 'TenantAdminSite': one site instance serves "
        f"every admin request, {OVERWRITE}",
    )


def test_module_level_instance_class_attribute_and_global_messages():
    instance = findings(CASE / "module_level_instance.py")
    assert instance[0][1:] == (
        7, 8, Severity.ERROR,
        "request-derived value stored on self.key in 'ApiKeyChecker', instantiated once at module level as "
        f"'checker': that one instance serves every request in the process, {OVERWRITE}",
    )
    assert instance[2][4].startswith(
        "request-derived value stored on self.request in authenticator 'SharedAuthentication', instantiated once at "
        "module level as 'AUTHENTICATORS': that one instance")
    assert instance[3][4].startswith("request-derived value stored on self.user in 'Formatter', instantiated once as "
                                     "class attribute 'Report.formatter'")
    assert instance[-1][1:] == (
        36, 4, Severity.ERROR,
        "request-derived value stored on checker.last_request, an attribute of the module-level instance 'checker': "
        f"that one instance serves every request in the process, {OVERWRITE}",
    )
    class_attribute = findings(CASE / "class_attribute.py")
    assert class_attribute[1][1:] == (
        20, 8, Severity.ERROR,
        "request-derived value stored on class attribute type(self).last_user: a class attribute is shared by "
        f"every request in the process, {OVERWRITE}",
    )
    assert class_attribute[-1][4].startswith("request-derived value stored on class attribute User.last_request:")
    module_global = findings(CASE / "module_global.py")
    assert module_global[0][1:] == (
        18, 4, Severity.ERROR,
        "request-derived value stored in module global CURRENT_USER: a module global is shared by every request "
        f"in the process, {OVERWRITE}",
    )
    assert module_global[2][4] == (
        "request-derived value added to module global RECENT_PATHS: a module global is shared by every request in "
        "the process, so every request's data collects in it"
    )


def test_cross_file_base_classes_and_module_globals():
    found = findings(CASE / "cross_file", root=CASE / "cross_file")
    assert [(name, line) for name, line, *_ in found] == [
        ("jwt.py", 6), ("middleware.py", 8), ("middleware.py", 9), ("middleware.py", 10),
        ("middleware.py", 11), ("middleware.py", 14),
    ]
    assert found[0][3] == Severity.WARNING
    assert "in middleware 'TenantMiddleware'" in found[1][4]
    assert found[3][4].startswith("request-derived value stored in module global state.LAST_REQUEST:")


def test_try_finally_delete_does_not_make_it_safe(tmp_path):
    path = write(tmp_path, """\
        class M:
            def __init__(self, get_response):
                self.get_response = get_response

            def __call__(self, request):
                self.request = request
                try:
                    return self.get_response(request)
                finally:
                    del self.request
        """)
    assert [line for _, line, *_ in findings(path)] == [6]


def test_helper_methods_receive_request_data_by_position_and_keyword(tmp_path):
    path = write(tmp_path, """\
        from django.utils.deprecation import MiddlewareMixin


        class M(MiddlewareMixin):
            def process_request(self, request):
                self._store(request.user, tenant=request.tenant, label="x")

                self._keep(**request.GET)
                self._split(*request.path.split("/"))

            def _store(self, user, label, tenant=None):
                self.user = user
                self.label = label
                self.tenant = tenant

            def _keep(self, page=None, **rest):
                self.page = page

            def _split(self, first, second):
                self.second = second

            def _never_called(self, user):
                self.other = user
        """)
    assert [line for _, line, *_ in findings(path)] == [12, 14, 17, 20]


def test_middleware_bases_option(tmp_path):
    path = write(tmp_path, """\
        from vendor.base import PluginBase


        class TenantPlugin(PluginBase):
            def handle(self, request):
                self.tenant = request.tenant
        """)
    assert findings(path) == []
    assert findings(path, options=with_options(middleware_bases=("vendor.base.PluginBase",))) == [
        ("module.py", 6, 8, Severity.ERROR,
         "request-derived value stored on self.tenant in middleware 'TenantPlugin': one instance serves every "
         f"request in the process, {OVERWRITE}"),
    ]


def test_authenticator_bases_option(tmp_path):
    path = write(tmp_path, """\
        from vendor.auth import ApiKeyAuth


        class TenantKeyAuth(ApiKeyAuth):
            def authenticate(self, request):
                self.key = request.headers["X-Key"]
        """)
    assert findings(path) == []
    assert findings(path, options=with_options(authenticator_bases=("vendor.auth.ApiKeyAuth",))) == [
        ("module.py", 6, 8, Severity.WARNING,
         "request-derived value stored on self.key in authenticator 'TenantKeyAuth': DRF builds authenticators per "
         "request, so this is a latent hazard rather than a live race, until the instance is shared (module-level "
         "instance, caching)"),
    ]


def test_non_ascii_line_reports_character_column(tmp_path):
    path = write(tmp_path, """\
        class M:
            def __init__(self, get_response):
                self.get_response = get_response

            def __call__(self, request):
                étiquette = "é"; self.user = request.user
                return self.get_response(request)
        """)
    assert [(line, col) for _, line, col, *_ in findings(path)] == [(6, 25)]


def test_classmethod_in_middleware_is_reported_once_as_a_class_attribute(tmp_path):
    path = write(tmp_path, """\
        from django.utils.deprecation import MiddlewareMixin


        class M(MiddlewareMixin):
            @classmethod
            def remember(cls, request):
                cls.last_path = request.path
        """)
    assert findings(path) == [
        ("module.py", 7, 8, Severity.ERROR,
         "request-derived value stored on class attribute cls.last_path: a class attribute is shared by every "
         f"request in the process, {OVERWRITE}"),
    ]
