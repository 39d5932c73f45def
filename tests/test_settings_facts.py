"""Static reading of settings modules: what is understood, and what stays unknown."""

from __future__ import annotations

import textwrap

from tenantlint.model.project import Project
from tenantlint.model.settings import SettingsReader, looks_like_settings
from tenantlint.model.settings_values import Mapping, Seq, Str, Unknown


def write(tmp_path, files: dict[str, str]):
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def views(tmp_path, candidates):
    paths = [str(tmp_path / c) for c in candidates]
    reader = SettingsReader(Project(paths, [str(tmp_path)]), paths)
    return {v.leaf.rsplit("/", 1)[1]: v for v in reader.views()}


def values(seq):
    assert isinstance(seq, Seq)
    return [item.value if isinstance(item, Str) else None for item in seq.items]


def test_split_settings_with_augmented_assignment_append_insert(tmp_path):
    write(tmp_path, {
        "conf/__init__.py": "",
        "conf/settings/__init__.py": "",
        "conf/settings/base.py": """
            INSTALLED_APPS = ("django.contrib.auth",)
            MIDDLEWARE = ["a.A", "b.B"]
            REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": ("x.X",)}
        """,
        "conf/settings/production.py": """
            from .base import *
            INSTALLED_APPS += ("django_tenants",)
            MIDDLEWARE.insert(0, "t.T")
            MIDDLEWARE.append("z.Z")
            MIDDLEWARE.remove("b.B")
            MIDDLEWARE.extend(["y.Y"])
            REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] += ("s.S",)
            REST_FRAMEWORK["PAGE_SIZE"] = 10
        """,
    })
    found = views(tmp_path, ["conf/settings/base.py", "conf/settings/production.py", "conf/settings/__init__.py"])
    assert sorted(found) == ["__init__.py", "production.py"]  # base.py is imported, so not a leaf
    production = found["production.py"]
    assert values(production.get("MIDDLEWARE")) == ["t.T", "a.A", "z.Z", "y.Y"]
    assert values(production.get("INSTALLED_APPS")) == ["django.contrib.auth", "django_tenants"]
    assert values(production.lookup("REST_FRAMEWORK", "DEFAULT_AUTHENTICATION_CLASSES")) == ["x.X", "s.S"]
    assert production.app_installed("django_tenants") is True
    middleware = production.get("MIDDLEWARE")
    assert middleware.complete
    assert middleware.items[1].loc.path.endswith("base.py") and middleware.items[1].loc.line == 3
    assert middleware.loc.path.endswith("base.py")


def test_absolute_star_import_and_named_import(tmp_path):
    write(tmp_path, {
        "proj/__init__.py": "",
        "proj/base_settings.py": 'MIDDLEWARE = ["a.A"]\nCACHES = {"default": {"KEY_FUNCTION": "django_tenants.cache.make_key"}}\n',
        "proj/settings.py": "from proj.base_settings import *\nfrom proj.base_settings import MIDDLEWARE as BASE\nMIDDLEWARE = BASE + ['b.B']\n",
    })
    view = views(tmp_path, ["proj/settings.py", "proj/base_settings.py"])["settings.py"]
    assert values(view.get("MIDDLEWARE")) == ["a.A", "b.B"]
    key_function = view.lookup("CACHES", "default", "KEY_FUNCTION")
    assert isinstance(key_function, Str) and key_function.value == "django_tenants.cache.make_key"


def test_list_tuple_splat_and_dict_forms(tmp_path):
    write(tmp_path, {"settings.py": """
        SHARED_APPS = ("django_tenants", "customers")
        TENANT_APPS = ["crm"]
        INSTALLED_APPS = list(SHARED_APPS) + [a for a in TENANT_APPS if a not in SHARED_APPS]
        MIDDLEWARE = [*SHARED_APPS, "m.M"]
        REST_FRAMEWORK = dict(PAGE_SIZE=10)
        REST_FRAMEWORK.update({"DEFAULT_AUTHENTICATION_CLASSES": ["x.X"]})
        SIMPLE_JWT = {**REST_FRAMEWORK, "ALGORITHM": "HS256"}
        TENANT_MODEL = "customers.Client"
    """})
    view = views(tmp_path, ["settings.py"])["settings.py"]
    installed = view.get("INSTALLED_APPS")
    assert values(installed) == ["django_tenants", "customers"] and installed.complete is False
    assert values(view.get("MIDDLEWARE")) == ["django_tenants", "customers", "m.M"]
    assert values(view.lookup("REST_FRAMEWORK", "DEFAULT_AUTHENTICATION_CLASSES")) == ["x.X"]
    assert isinstance(view.get("SIMPLE_JWT"), Mapping)
    assert view.lookup("SIMPLE_JWT", "ALGORITHM").value == "HS256"
    assert view.is_tenant_project() is True


def test_unknown_values_are_not_guessed(tmp_path):
    write(tmp_path, {"settings.py": """
        import os
        MIDDLEWARE = os.environ["MIDDLEWARE"].split(",")
        INSTALLED_APPS = ["a"] if os.environ.get("X") else ["b"]
        REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": [f"{os.environ['AUTH']}.Auth"]}
        from somewhere_unknown import *
    """})
    view = views(tmp_path, ["settings.py"])["settings.py"]
    assert isinstance(view.get("MIDDLEWARE"), Unknown)
    assert isinstance(view.get("INSTALLED_APPS"), Unknown)
    assert view.app_installed("django_tenants") is None
    assert view.lookup("REST_FRAMEWORK", "DEFAULT_AUTHENTICATION_CLASSES").items[0].__class__ is Unknown
    assert isinstance(view.get("NOT_DEFINED_HERE"), Unknown)  # the unresolved star import may define it


def test_conditional_blocks_are_applied_and_cycles_stop(tmp_path):
    write(tmp_path, {
        "a_settings.py": "from b_settings import *\nMIDDLEWARE = ['a.A']\nif DEBUG:\n    MIDDLEWARE += ['debug.D']\ntry:\n    from local_settings import *\nexcept ImportError:\n    pass\n",
        "b_settings.py": "from a_settings import *\nDEBUG = True\n",
        "local_settings.py": "DEBUG_TOOLBAR = True\n",
    })
    found = views(tmp_path, ["a_settings.py", "b_settings.py", "local_settings.py"])
    assert "a_settings.py" in found  # the cycle ends; the module that imports the other is a leaf
    reader_view = SettingsReader(Project([str(tmp_path / "a_settings.py")], [str(tmp_path)]),
                                 [str(tmp_path / "a_settings.py")]).views()[0]
    assert values(reader_view.get("MIDDLEWARE")) == ["a.A", "debug.D"]
    assert str(tmp_path / "local_settings.py") in reader_view.modules


def test_settings_paths():
    assert looks_like_settings("proj/settings.py")
    assert looks_like_settings("proj/settings/production.py")
    assert looks_like_settings("proj/test_settings.py")
    assert looks_like_settings("settings_prod.py")
    assert not looks_like_settings("proj/views.py")
    assert looks_like_settings("deploy/conf.py", ["deploy/conf.py"])


def test_named_imports_are_read_only_when_a_setting_uses_them(tmp_path):
    """`from .apps import INSTALLED_APPS` gives the setting its value (and makes apps.py part of the
    settings); `from .commands import BaseCommand`, never used by a setting, reads nothing."""
    write(tmp_path, {
        "proj/__init__.py": "",
        "proj/apps.py": "from .shared import SHARED as INSTALLED_APPS\n",
        "proj/shared.py": "SHARED = ['django_tenants', 'crm']\n",
        "proj/lists.py": "EXTRA = ['m.M']\n",
        "proj/commands.py": "from .heavy import Thing\nclass BaseCommand: pass\n",
        "proj/heavy.py": "def f(:\n",  # would be a syntax error, were it read
        "proj/settings.py": """
            from .apps import INSTALLED_APPS
            from .lists import EXTRA
            from .commands import BaseCommand
            from .missing import NOWHERE
            MIDDLEWARE = ['a.A'] + EXTRA
        """,
    })
    paths = [str(tmp_path / "proj/settings.py")]
    project = Project(paths, [str(tmp_path)])
    reader = SettingsReader(project, paths)
    (view,) = reader.views()
    assert values(view.get("INSTALLED_APPS")) == ["django_tenants", "crm"]
    assert values(view.get("MIDDLEWARE")) == ["a.A", "m.M"]
    assert view.get("BaseCommand") is None and view.get("NOWHERE") is None
    part_of_settings = {name for name in ("apps", "shared", "lists", "commands", "heavy")
                        if reader.is_settings_module(str(tmp_path / f"proj/{name}.py"))}
    assert part_of_settings == {"apps", "shared", "lists"}
