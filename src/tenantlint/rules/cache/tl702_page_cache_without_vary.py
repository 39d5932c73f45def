"""TL702 page-cache-without-vary: a cached page that depends on the user, cached once for everyone."""

from __future__ import annotations

import ast
import os
from typing import Iterator

from tenantlint.diagnostics import Diagnostic, Edit
from tenantlint.model.execution import TEST
from tenantlint.model.pins import pinned_version
from tenantlint.model.settings_location import search_root
from tenantlint.model.summaries import Reach, class_methods, function_named, project_function
from tenantlint.rules.base import Rule, register
from tenantlint.rules.edits.imports import imported_name

_CACHE_PAGE = "django.views.decorators.cache.cache_page"
_METHOD_DECORATOR = "django.utils.decorators.method_decorator"
_VARY = frozenset({"django.views.decorators.vary.vary_on_cookie", "django.views.decorators.vary.vary_on_headers",
                   "django.views.decorators.cache.never_cache"})
_CACHE_CONTROL = "django.views.decorators.cache.cache_control"
_VARY_ON_HEADERS = "django.views.decorators.vary.vary_on_headers"
_PER_USER = ("user", "auth", "session")
# Django's cache varies on Authorization by itself from this release of 5.2 on
_VARIES_ON_AUTHORIZATION = (5, 2, 15)


@register
class PageCacheWithoutVary(Rule):
    code = "TL702"
    name = "page-cache-without-vary"
    summary = "a page cached with cache_page depends on the user, and nothing makes the cache vary on the user"
    what = (
        "`cache_page(...)` on a view (`@cache_page`, `@method_decorator(cache_page(...), name=\"dispatch\")` on a "
        "class or on its method, `cache_page(...)(view)` in a URLconf) whose code, itself or through the helpers "
        "it calls, reads `request.user`, `request.auth` or `request.session`, with no `vary_on_cookie`, "
        "`vary_on_headers(...)`, `never_cache` or `cache_control(private=True)` on it. The message says what "
        "the Django release the project pins (lock files, requirements files, pyproject.toml) does about "
        "`Authorization`."
    )
    why = (
        "`cache_page` keys the page by its URL (host included) and by the headers the response varies on when it "
        "is stored. The session middleware adds `Vary: Cookie` only after the view's decorators have stored the "
        "page, so the first user's page, their name and data included, is what every later visitor of that URL "
        "gets until it expires: another user of the tenant, and in a project whose tenants share a host (subfolders "
        "with a shared prefix, a tenant header), another tenant's user. Django varies on `Authorization` by itself "
        "only from 5.2.15 on, and never on the session cookie."
    )
    avoids = (
        "Silent for cached views that do not read the user, the token or the session (public pages), for views "
        "that vary already (`vary_on_cookie`, `vary_on_headers`, `never_cache`, `cache_control(private=True)`), for "
        "views cache_page is given by a name the rule cannot follow, in test code."
    )
    fix_description = (
        "Unsafe: `vary_on_headers(\"Cookie\", \"Authorization\")` is added below the `cache_page` (inside it, so "
        "the cache sees the `Vary` when it stores the page): each session and each token gets its own entry. The "
        "page is then cached per user, which is the point, but it is cached much less."
    )
    fix_safety = "unsafe"
    node_types = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Call)
    triggers = ("cache_page",)
    example_filename = "views.py"
    invalid = (
        """\
from django.http import JsonResponse
from django.views.decorators.cache import cache_page


@cache_page(60)
def dashboard(request):  # TL702
    return JsonResponse({"user": request.user.username, "orders": request.user.orders.count()})
""",
    )
    valid = (
        """\
from django.http import JsonResponse
from django.views.decorators.cache import cache_page
from django.views.decorators.vary import vary_on_headers


@cache_page(60)
@vary_on_headers("Cookie", "Authorization")
def dashboard(request):
    return JsonResponse({"user": request.user.username, "orders": request.user.orders.count()})
""",
    )

    def __init__(self, options):
        super().__init__(options)
        self._pins: tuple[object, dict] = (None, {})  # the project text last asked, and its folders' pins

    def visit(self, node, ctx) -> Iterator[Diagnostic]:
        if ctx.execution.at(node).place == TEST:
            return
        if isinstance(node, ast.Call):
            yield from self._wrapped(node, ctx)
            return
        cached = self._cache_page_decorator(node, ctx)
        if cached is None or self._varies(node, ctx):
            return
        owner = ctx.execution.owner_of(node) if not isinstance(node, ast.ClassDef) else None
        if owner is not None and self._varies(owner, ctx):
            return
        functions = list(class_methods(node).values()) if isinstance(node, ast.ClassDef) else [node]
        methods = class_methods(node if isinstance(node, ast.ClassDef) else owner)
        read = next(filter(None, (_per_user_read(Reach(f, ctx, methods=methods)) for f in functions)), None)
        if read is None:
            return
        decorator, in_method_decorator = cached
        label = f"'{owner.name}.{node.name}'" if owner is not None else f"'{node.name}'"
        yield self.diagnostic(ctx.location(node), self._message(label, read, ctx),
                              fix=self._decorator_fix(decorator, in_method_decorator, ctx))

    def _wrapped(self, call: ast.Call, ctx) -> Iterator[Diagnostic]:
        """`cache_page(60)(views.profile)`, in a URLconf."""
        if not (isinstance(call.func, ast.Call) and ctx.imports.qualify(call.func.func) == _CACHE_PAGE
                and len(call.args) == 1):
            return
        view = call.args[0]
        dotted = ctx.imports.qualify(view)
        found = project_function(dotted, ctx) if dotted and "." in dotted else function_named(view, ctx.module, {}, ctx)
        if found is None or self._varies(found[0], ctx):
            return
        read = _per_user_read(Reach(found[0], ctx, methods=found[2], module=found[1]))
        if read is None:
            return
        name, imports = imported_name(_VARY_ON_HEADERS, None, ctx)
        fix = None
        if name is not None:
            _, start, _, end = ctx.char_span(view)
            fix = self.fix(f"Vary on the session and the token: `{name}(\"Cookie\", \"Authorization\")`", [
                *imports, Edit(view.lineno, start, view.lineno, start, f"{name}(\"Cookie\", \"Authorization\")("),
                Edit(view.end_lineno, end, view.end_lineno, end, ")")])
        yield self.diagnostic(ctx.location(call), self._message(f"'{found[0].name}'", read, ctx), fix=fix)

    def _message(self, view: str, read: str, ctx) -> str:
        pinned = self._pinned_django(ctx)
        note = ""
        if pinned is not None:
            version, path = ".".join(map(str, pinned[0])), os.path.basename(pinned[1])
            note = (f"; Django {version} ({path}) varies on Authorization by itself, so token requests are kept "
                    "apart, but session users still share the page" if pinned[0] >= _VARIES_ON_AUTHORIZATION else
                    f"; Django {version} ({path}) does not vary on Authorization either (5.2.15 does)")
        return (f"`cache_page` on {view} keeps one page per URL, and the view reads {read}: the first visitor's page "
                "is served to every user, of this tenant or one sharing its host, who asks for that URL before it "
                f"expires; add `vary_on_headers(\"Cookie\", \"Authorization\")` below it{note}")

    def _pinned_django(self, ctx):
        """The Django release the project pins, read once per folder and run."""
        known, pins = self._pins
        if known is not ctx.project_text:
            pins = {}
            self._pins = (ctx.project_text, pins)
        folder = os.path.dirname(os.path.abspath(ctx.path))
        if folder not in pins:
            pins[folder] = pinned_version(folder, search_root(ctx.path, ctx.config), "django")
        return pins[folder]

    @staticmethod
    def _cache_page_decorator(node, ctx):
        """(the `cache_page(...)` decorator, whether it is inside `method_decorator(...)`), or None."""
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call):
                continue
            dotted = ctx.imports.qualify(decorator.func)
            if dotted == _CACHE_PAGE:
                return decorator, False
            if dotted == _METHOD_DECORATOR and decorator.args and isinstance(decorator.args[0], ast.Call) and \
                    ctx.imports.qualify(decorator.args[0].func) == _CACHE_PAGE:
                return decorator, True
        return None

    @staticmethod
    def _varies(node, ctx) -> bool:
        """A vary decorator (also through `method_decorator`), or `cache_control(private=True)`, on the node."""
        for decorator in getattr(node, "decorator_list", ()):
            inner = decorator.args[0] if isinstance(decorator, ast.Call) and ctx.imports.qualify(
                decorator.func) == _METHOD_DECORATOR and decorator.args else decorator
            target = inner.func if isinstance(inner, ast.Call) else inner
            dotted = ctx.imports.qualify(target)
            if dotted in _VARY:
                return True
            if dotted == _CACHE_CONTROL and isinstance(inner, ast.Call) and any(
                    k.arg == "private" and isinstance(k.value, ast.Constant) and k.value.value for k in inner.keywords):
                return True
        return False

    def _decorator_fix(self, decorator: ast.Call, in_method_decorator: bool, ctx):
        """The vary decorator on its own line below `cache_page`'s (inside it)."""
        name, imports = imported_name(_VARY_ON_HEADERS, None, ctx)
        lines = ctx.lines
        if name is None or decorator.lineno != decorator.end_lineno or lines[decorator.lineno - 1].strip() != \
                f"@{ctx.segment(decorator)}":
            return None
        line = lines[decorator.lineno - 1]
        indent = line[: len(line) - len(line.lstrip())]
        vary = f"{name}(\"Cookie\", \"Authorization\")"
        if in_method_decorator:  # `method_decorator(cache_page(60), name="dispatch")`: the same name for it
            keywords = "".join(f", {k.arg}={ctx.segment(k.value)}" for k in decorator.keywords if k.arg)
            vary = f"{ctx.segment(decorator.func)}({vary}{keywords})"
        return self.fix(f"Vary on the session and the token: `@{vary}` below `cache_page`", [
            *imports, Edit(decorator.lineno + 1, 0, decorator.lineno + 1, 0, f"{indent}@{vary}\n")])


def _per_user_read(reached: Reach) -> str | None:
    """`request.user` (also `self.request.user`), `request.auth` or `request.session` in the reached code."""
    for node, _ in reached.nodes():
        if isinstance(node, ast.Attribute) and node.attr in _PER_USER:
            holder = node.value
            if isinstance(holder, ast.Name) and holder.id == "request" or isinstance(holder, ast.Attribute) and (
                    holder.attr == "request" and isinstance(holder.value, ast.Name) and holder.value.id == "self"):
                return f"`{ast.unparse(node)}`"
    return None
