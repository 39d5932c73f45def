"""TL202: one finding per cache alias of a schema-per-tenant project with no tenant KEY_FUNCTION, counting
the keys built without the tenant across the project (the fix is proven by fixes/TL202)."""

from __future__ import annotations

from lintutil import CASES, lint
from test_cli import run

CASE = CASES / "TL202" / "unkeyed_aliases"


def test_each_unkeyed_alias_used_by_a_leaking_key_gets_one_finding_naming_its_keys():
    diagnostics, errors = lint(CASE, select=["TL202"], root=CASE)
    assert errors == []
    assert [(d.path.rsplit("/", 1)[1], d.line, d.col, d.message, d.fix.applicability.value if d.fix else None)
            for d in diagnostics] == [
        ("settings.py", 5, 15,
         'cache alias "default" has no tenant KEY_FUNCTION although every tenant shares this cache: 1 key built '
         'without the tenant uses it ("product:{product_id}"); with one, 1 key that looks global would become per '
         'tenant too ("menu"): keep keys meant for every tenant on an alias of their own', "unsafe"),
        ("settings.py", 13, 16,
         'cache alias "throttle" has no tenant KEY_FUNCTION although every tenant shares this cache: 1 key built '
         'without the tenant uses it ("calls:{user_id}")', None),
    ]


def test_the_settings_module_checked_alone_counts_the_whole_project():
    alone = run("check", "--select", "TL202", "--no-cache", "--output-format", "concise", str(CASE / "settings.py"))
    full = run("check", "--select", "TL202", "--no-cache", "--output-format", "concise", str(CASE))
    assert alone.exit_code == full.exit_code == 1
    assert alone.output == full.output and alone.output.count(": TL202 ") == 2


def test_a_cache_call_added_elsewhere_changes_the_cached_result(tmp_path):
    import shutil

    project = tmp_path / "project"
    shutil.copytree(CASE, project)
    first = run("check", "--select", "TL202", "--output-format", "concise", str(project / "settings.py"), cwd=project)
    assert '1 key built without the tenant uses it ("product:{product_id}")' in first.output
    with (project / "shop" / "views.py").open("a") as views:
        views.write('\n\ndef order(order_id):\n    return cache.get(f"order:{order_id}")\n')
    second = run("check", "--select", "TL202", "--output-format", "concise", str(project / "settings.py"), cwd=project)
    assert '2 keys built without the tenant use it ("product:{product_id}", "order:{order_id}")' in second.output
