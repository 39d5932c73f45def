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
    assert found[69] == (
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


# -- fixes: which findings get one, how safe it is ------------------------------------
def fixes(path, **kwargs):
    diagnostics, errors = lint(path, select=["TL101"], **kwargs)
    assert errors == []
    return [(d.line, d.fix.applicability.value if d.fix else None, d.fix.message if d.fix else None)
            for d in diagnostics]


MIDDLEWARE_HEAD = """\
class M:
    def __init__(self, get_response):
        self.get_response = get_response

"""


def middleware(tmp_path, body, tail=""):
    """A new-style middleware with `body` as its request methods, and `tail` after the class."""
    return write(tmp_path, MIDDLEWARE_HEAD + textwrap.indent(textwrap.dedent(body), "    ") + textwrap.dedent(tail))


def test_sample_issue_1_reads_the_tenant_from_the_connection_unsafely():
    assert fixes(SAMPLE / "backend", root=SAMPLE) == [
        (19, "unsafe", "Read the tenant from django.db.connection instead of keeping the request on "
                       "self._current_request"),
    ]


def test_without_django_tenants_the_same_shape_gets_a_context_variable(tmp_path):
    path = write(tmp_path, """\
        from rest_framework_simplejwt.authentication import JWTAuthentication


        class TenantJWTAuthentication(JWTAuthentication):
            def authenticate(self, request):
                self._current_request = request
                return super().authenticate(request)

            def get_user(self, validated_token):
                tenant = getattr(self._current_request, "tenant", None)
                return super().get_user(validated_token) if tenant else None
        """)
    assert fixes(path) == [(6, "safe", "Move self._current_request into the context variable "
                                       "_TenantJWTAuthentication_current_request")]


def test_a_settings_module_naming_django_tenants_makes_it_a_tenant_project(tmp_path):
    settings = write(tmp_path, 'INSTALLED_APPS = ["django_tenants", "django.contrib.auth"]\n', "settings.py")
    path = write(tmp_path, """\
        from rest_framework_simplejwt.authentication import JWTAuthentication


        class TenantJWTAuthentication(JWTAuthentication):
            def authenticate(self, request):
                self._request = request
                return super().authenticate(request)

            def get_user(self, validated_token):
                if self._request.tenant.schema_name == "public":
                    return None
                return super().get_user(validated_token)
        """, "authentication.py")
    assert [message for *_, message in fixes([path, settings], root=tmp_path)] == [
        "Read the tenant from django.db.connection instead of keeping the request on self._request"]


def test_private_attribute_rewritten_everywhere_is_safe_public_is_unsafe(tmp_path):
    path = middleware(tmp_path, """\
        def __call__(self, request):
            self._user = request.user
            self.tenant = request.tenant
            return self.get_response(request)

        def process_view(self, request, view_func, args, kwargs):
            kwargs["owner"] = (self._user, self.tenant)
        """)
    assert fixes(path) == [
        (6, "safe", "Move self._user into the context variable _M_user"),
        (7, "unsafe", "Move self.tenant into the context variable _M_tenant"),
    ]


def test_private_attribute_reached_from_outside_the_class_is_unsafe(tmp_path):
    reads = {
        "module level": "instance = M(None)\nprint(instance._user)\n",
        "a subclass": "class Sub(M):\n    def who(self):\n        return self._user\n",
        "by name": 'def who(m):\n    return getattr(m, "_user")\n',
    }
    for where, tail in reads.items():
        path = middleware(tmp_path, """\
            def __call__(self, request):
                self._user = request.user
                return self.get_response(request)

            def process_view(self, request, view_func, args, kwargs):
                kwargs["owner"] = self._user
            """, "\n\n" + tail)
        assert [safety for _, safety, _ in fixes(path)] == ["unsafe"], where


def test_the_same_private_name_in_an_unrelated_class_stays_safe(tmp_path):
    path = middleware(tmp_path, """\
        def __call__(self, request):
            self._user = request.user
            return self.get_response(request)

        def process_view(self, request, view_func, args, kwargs):
            kwargs["owner"] = self._user
        """, """

        class Other:
            def __init__(self, user):
                self._user = user
        """)
    assert [safety for _, safety, _ in fixes(path)] == ["safe"]


def test_dynamic_access_to_self_makes_the_fix_unsafe(tmp_path):
    path = middleware(tmp_path, """\
        def __call__(self, request):
            self._user = request.user
            return self.get_response(request)

        def process_view(self, request, view_func, args, kwargs):
            kwargs.update(vars(self))
            kwargs["owner"] = self._user
        """)
    assert [safety for _, safety, _ in fixes(path)] == ["unsafe"]


def test_no_fix_where_an_access_cannot_be_rewritten(tmp_path):
    shapes = {
        "augmented assignment": ("self._total += len(request.body)", "return self._total"),
        "tuple target": ("self._user, self._path = request.user, request.path", "return self._user"),
        "container kept across requests": ("self._seen.append(request.path)", "return self._seen"),
        "rebound self": ("self._user = request.user\nself = None", "return self._user"),
        "low-level setattr": ('object.__setattr__(self, "_user", request.user)', "return self._user"),
        "hasattr after a plain del": ("self._user = request.user\ndel self._user", 'return hasattr(self, "_user")'),
        "getattr default after a plain del": ("self._user = request.user\ndel self._user",
                                              'return getattr(self, "_user", "anonymous")'),
        "never stored in the class": ("self._user.name = request.user.name", "return self._user"),
    }
    for name, (store, read) in shapes.items():
        body = (f"def __call__(self, request):\n{textwrap.indent(store, '    ')}\n"
                "    return self.get_response(request)\n\n"
                f"def process_view(self, request, view_func, args, kwargs):\n    {read}\n")
        path = middleware(tmp_path, body.replace("def __call__", "_seen = []\n\ndef __call__", 1))
        found = fixes(path)
        assert found and all(fix is None for _, fix, _ in found), name


def test_no_fix_for_a_public_attribute_nothing_in_the_class_reads(tmp_path):
    path = middleware(tmp_path, """\
        def __call__(self, request):
            self.user = request.user
            return self.get_response(request)
        """)
    assert fixes(path) == [(6, None, None)]


def test_unread_private_attribute_is_removed_only_when_storing_it_does_nothing_else(tmp_path):
    path = middleware(tmp_path, """\
        def __call__(self, request):
            self._request = request
            self._path = request.get_full_path()
            return self.get_response(request)
        """)
    assert fixes(path) == [(6, "safe", "Remove the stores to self._request: nothing reads it"), (7, None, None)]


def test_no_fix_where_a_base_class_may_use_the_attribute(tmp_path):
    tmp_path = tmp_path / "app"  # a package inside the project folder, not the folder itself
    tmp_path.mkdir()
    write(tmp_path, "", "__init__.py")
    write(tmp_path, """\
        class Base:
            def describe(self):
                return self._user
        """, "base.py")
    project_base = write(tmp_path, """\
        from .base import Base


        class M(Base):
            def __init__(self, get_response):
                self.get_response = get_response

            def __call__(self, request):
                self._user = request.user
                return self.describe()
        """, "middleware.py")
    assert fixes(project_base, root=tmp_path) == [(9, None, None)]
    admin = write(tmp_path, """\
        from django.contrib import admin
        from vendor.admin import FancyModelAdmin


        class RecordAdmin(admin.ModelAdmin):
            def get_readonly_fields(self, request, obj=None):
                if not request.user.is_superuser:
                    self.readonly_fields = ("owner",)
                return self.readonly_fields


        class FancyAdmin(FancyModelAdmin):
            def changelist_view(self, request, extra_context=None):
                self.viewer = request.user
                return self.render(self.viewer)

            def change_view(self, request, object_id, form_url="", extra_context=None):
                self._viewer = request.user
                return self.render(self._viewer)

        admin.site.register(Record, FancyAdmin)
        admin.site.register(Other, RecordAdmin)
        """, "admin.py")
    assert fixes(admin, root=tmp_path) == [
        (8, None, None),
        (14, None, None),
        (18, "safe", "Move self._viewer into the context variable _FancyAdmin_viewer"),
    ]


def test_no_fix_for_mangled_names_nor_classes_inside_functions(tmp_path):
    path = write(tmp_path, """\
        def make():
            class Nested:
                def __init__(self, get_response):
                    self.get_response = get_response

                def __call__(self, request):
                    self._user = request.user
                    return self._user

            return Nested


        class Mangled:
            def __init__(self, get_response):
                self.get_response = get_response

            def __call__(self, request):
                self.__user = request.user
                return self.__user
        """)
    assert [fix for _, fix, _ in fixes(path)] == [None, None]


def test_checking_a_fixable_file_does_not_import_libcst():
    import subprocess
    import sys

    target = SAMPLE / "backend" / "authentication" / "jwt_authentication.py"
    code = ("import sys\nfrom tenantlint.cli import main\nsys.argv = ['tenantlint', 'check', '--no-cache', '--select', "
            f"'TL101', '--output-format', 'concise', {str(target)!r}]\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('libcst' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "TL101" in output and output.strip().splitlines()[-1] == "False"
