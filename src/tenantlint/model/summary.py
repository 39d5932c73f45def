"""What `tenantlint project` prints: everything the model inferred, and from which file and line.

As `ruff check --show-settings` does for configuration: when a finding surprises, this says what
tenantlint believed about the project (its settings, its tenancy) and why.
"""

from __future__ import annotations

import os

from tenantlint.model.known import derives_from, tenant_middleware_names
from tenantlint.model.settings_values import Seq
from tenantlint.model.test_code import TEST_CODE, is_test_code


def describe_project(engine, path: str) -> dict:
    """The model of the project holding `path`, as plain data (the JSON output; the text is made from it)."""
    location = engine.settings_location(path)
    root = location.root

    def shown(file: str | None) -> str | None:
        return None if file is None else os.path.relpath(file, root)

    asked = os.path.abspath(path)
    trees: dict[str, list] = {}
    for view in engine.settings.views():  # the source trees at, above or below the path asked about
        if view.governs(asked) or _below(view.scope, asked):
            trees.setdefault(view.scope, []).append(view)
    projects = []
    for scope, governing in sorted(trees.items()):
        tenancy = engine.tenancy(scope, governing)
        projects.append({
            "source_tree": shown(scope),
            "settings": [{"leaf": shown(view.leaf), "configuration": view.configuration,
                          "modules": [shown(m) for m in view.modules]} for view in governing],
            "tenancy": {
                "kind": tenancy.kind,
                "declared": tenancy.declared,
                "evidence": [{"what": e.what, "file": shown(e.path) if e.path else None, "line": e.line}
                             for e in tenancy.evidence],
                "tenant_model": tenancy.tenant_model,
                "tenant_apps": list(tenancy.tenant_apps),
                "shared_apps": list(tenancy.shared_apps),
                "user_model": f"{tenancy.user_app}.{tenancy.user_model}",
                "user_ids_repeat": tenancy.user_ids_repeat_across_tenants,
                "users_per_tenant": tenancy.users_per_tenant,
                "tenant_from_user": None if tenancy.tenant_from_user is None else {
                    "what": tenancy.tenant_from_user.what, "file": shown(tenancy.tenant_from_user.path),
                    "line": tenancy.tenant_from_user.line},
            },
            "tenant_middleware": _tenant_middleware(engine, governing, shown),
        })
    files = [f for f in location.python_files if _below(f, asked) or any(v.governs(f) for vs in trees.values() for v in vs)]
    tests = [f for f in files if is_test_code(f)]
    return {
        "root": root,
        "declared_settings": [{"module": d.module, "configuration": d.configuration, "file": shown(d.source),
                               "line": d.line, "resolves_to": shown(d.path)} for d in location.declarations],
        "settings_by_name": [shown(p) for p in location.by_name],
        "projects": projects,
        "test_code": {"checked": bool(engine.config.options.include_tests), "patterns": list(TEST_CODE),
                      "files": len(tests)},
    }


def _below(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _tenant_middleware(engine, views, shown) -> list[dict]:
    names = tenant_middleware_names(engine.config.options)
    found = []
    for view in views:
        middleware = view.get("MIDDLEWARE")
        if not isinstance(middleware, Seq):
            continue
        for position, item in enumerate(middleware.strings()):
            if derives_from(engine.project, item.value, names, view.leaf):
                entry = {"entry": item.value, "position": position + 1, "file": shown(item.loc.path),
                         "line": item.loc.line}
                if entry not in found:
                    found.append(entry)
    return found


def render_text(model: dict) -> str:
    """`key: value` lines, one block per source tree."""
    lines = [f"root: {model['root']}", "declared settings:"]
    for declared in model["declared_settings"]:
        configuration = f" (configuration {declared['configuration']})" if declared["configuration"] else ""
        target = declared["resolves_to"] or "not in the project"
        lines.append(f"  {declared['module']}{configuration}  from {declared['file']}:{declared['line']} -> {target}")
    if not model["declared_settings"]:
        lines.append("  (none: no manage.py, wsgi.py, asgi.py, Celery module or pytest configuration sets it)")
    lines.append("settings found by name: " + (", ".join(model["settings_by_name"]) or "(none)"))
    for project in model["projects"]:
        tenancy = project["tenancy"]
        lines.append(f"source tree: {project['source_tree']}")
        for view in project["settings"]:
            configuration = f":{view['configuration']}" if view["configuration"] else ""
            lines.append(f"  settings leaf: {view['leaf']}{configuration} (reads {', '.join(view['modules'])})")
        lines.append(f"  tenancy: {tenancy['kind']}" + (" (declared)" if tenancy["declared"] else ""))
        for evidence in tenancy["evidence"]:
            place = f"  at {evidence['file']}:{evidence['line']}" if evidence["file"] else ""
            lines.append(f"    because {evidence['what']}{place}")
        if tenancy["tenant_model"]:
            lines.append(f"  tenant model: {tenancy['tenant_model']}")
        if tenancy["tenant_apps"]:
            lines.append(f"  per-tenant apps: {', '.join(tenancy['tenant_apps'])}")
        if tenancy["shared_apps"]:
            lines.append(f"  shared apps: {', '.join(tenancy['shared_apps'])}")
        source = tenancy["tenant_from_user"]
        bound = ("bound to one tenant, which the request's host or header chooses" if tenancy["users_per_tenant"]
                 else "each served in its own tenant" if source else "not bound to one tenant")
        ids = ("; its ids repeat in every tenant's schema" if tenancy["user_ids_repeat"]
               else "; one user table, ids unique across tenants" if tenancy["kind"] == "schema" else "")
        lines.append(f"  users: {tenancy['user_model']}, {bound}{ids}")
        if source:
            lines.append(f"  tenant from the user: {source['what']}  at {source['file']}:{source['line']}")
        for middleware in project["tenant_middleware"]:
            lines.append(f"  tenant middleware: {middleware['entry']} (position {middleware['position']} in MIDDLEWARE"
                         f" at {middleware['file']}:{middleware['line']})")
    tests = model["test_code"]
    verb = "checked (include-tests = true)" if tests["checked"] else "skipped by the leak rules"
    lines.append(f"test code: {tests['files']} files, {verb}; patterns {', '.join(tests['patterns'])}")
    return "\n".join(lines) + "\n"
