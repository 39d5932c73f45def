"""The same findings with and without the cache, with one process or several; the cache follows edits."""

from __future__ import annotations

import json
import os
import shutil
import sys

from lintutil import CASES, SAMPLE
from test_cli import run


def concise(*args, cwd):
    result = run("check", "--output-format", "concise", *args, ".", cwd=cwd)
    return result.exit_code, result.output


def test_findings_identical_with_and_without_cache_and_jobs(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(SAMPLE, project / "sample")
    for code in ("TL101", "TL201", "TL303"):
        shutil.copytree(CASES / code, project / code)
    baseline = concise("--no-cache", "--jobs", "1", cwd=project)
    assert baseline[0] == 1 and baseline[1].count("\n") > 20
    assert concise("--no-cache", "--jobs", "2", cwd=project) == baseline
    assert concise("--jobs", "2", cwd=project) == baseline  # cold cache
    assert (project / ".tenantlint_cache" / "CACHEDIR.TAG").exists()
    assert concise("--jobs", "1", cwd=project) == baseline  # warm cache
    assert concise("--jobs", "2", cwd=project) == baseline


def test_cache_follows_edits_to_the_file_and_to_its_dependencies(tmp_path):
    (tmp_path / "customers").mkdir()
    (tmp_path / "customers" / "__init__.py").write_text("")
    base = tmp_path / "customers" / "middleware.py"
    base.write_text("class HostTenant:\n    pass\n")
    settings = tmp_path / "settings.py"
    settings.write_text('INSTALLED_APPS = ["django_tenants"]\nMIDDLEWARE = [\n    "a.A",\n    "customers.middleware.HostTenant",\n'
                        '    "django_tenants.middleware.TenantMainMiddleware",\n]\n')
    first = concise(cwd=tmp_path)
    assert first[0] == 1 and ":5:5: TL303 tenant middleware 'TenantMainMiddleware'" in first[1]
    assert concise(cwd=tmp_path) == first
    # the base class changes in another file: the settings file's cached result must not be reused
    base.write_text("from django_tenants.middleware.main import TenantMainMiddleware\n\n\n"
                    "class HostTenant(TenantMainMiddleware):\n    pass\n")
    second = concise(cwd=tmp_path)
    assert ":4:5: TL303 tenant middleware 'HostTenant'" in second[1]
    settings.write_text(settings.read_text().replace('    "a.A",\n', ""))
    assert concise(cwd=tmp_path) == (0, "")


def test_no_cache_writes_no_cache(tmp_path):
    (tmp_path / "settings.py").write_text("MIDDLEWARE = []\n")
    run("check", "--no-cache", ".", cwd=tmp_path)
    assert not (tmp_path / ".tenantlint_cache").exists()


def test_clean_removes_the_cache(tmp_path):
    (tmp_path / "settings.py").write_text("MIDDLEWARE = ['a.b.C',\n# 'x.y.Z',\n]\n")
    run("check", ".", cwd=tmp_path)
    assert (tmp_path / ".tenantlint_cache").is_dir()
    result = run("clean", str(tmp_path))
    assert result.exit_code == 0 and not (tmp_path / ".tenantlint_cache").exists()
    assert run("clean", str(tmp_path)).output == "No cache to remove.\n"


def test_checking_one_file_imports_neither_libcst_nor_rich(tmp_path):
    import subprocess

    target = tmp_path / "views.py"
    target.write_text("def index(request):\n    return None\n")
    code = ("import sys\nfrom tenantlint.cli import main\nsys.argv = ['tenantlint', 'check', '--output-format', 'concise', "
            f"{str(target)!r}]\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('libcst', 'rich') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip().splitlines()[-1] == "[]"


def test_a_warm_run_loads_no_rule_and_no_fixer(tmp_path):
    import subprocess

    (tmp_path / "views.py").write_text("from django.core.cache import cache\n\n\ndef index(request):\n"
                                       "    return cache.get(f'user:{request.user.id}')\n")
    code = ("import sys\nfrom tenantlint.cli import main\nsys.argv = ['tenantlint', 'check', '--output-format', "
            f"'concise', {str(tmp_path)!r}]\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('tenantlint.engine', 'tenantlint.fixing', 'tenantlint.rules') if m in sys.modules))")
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)  # cold
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=tmp_path).stdout
    assert output.strip().splitlines()[-1] == "[]"


def test_a_dying_worker_does_not_lose_files(tmp_path, monkeypatch):
    """If the pool breaks, the remaining files are checked in the main process: same findings."""
    from tenantlint import runner

    for index in range(12):
        (tmp_path / f"app{index}_settings.py").write_text("MIDDLEWARE = [\n    'a.b.C',\n    # 'x.y.Z',\n]\n")
    expected = concise("--no-cache", "--jobs", "1", cwd=tmp_path)
    monkeypatch.setattr(runner, "_check_chunk", _die_on_app3)
    assert concise("--no-cache", "--jobs", "2", cwd=tmp_path) == expected


def _die_on_app3(chunk):
    """A worker task that kills its process on one file (module level: the pool pickles it by name)."""
    from tenantlint.runner import _WORKER_ENGINE

    if any(path.endswith("app3_settings.py") for path in chunk):
        os._exit(1)
    return [(_WORKER_ENGINE.check_path(path), None) for path in chunk]


def test_remembered_discovery_follows_new_files_and_gitignore_edits(tmp_path):
    import os
    import time

    settings = "MIDDLEWARE = [\n    'a.b.C',\n    # 'x.y.Z',\n]\n"
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "one_settings.py").write_text(settings)
    (tmp_path / ".gitignore").write_text("")
    files = lambda: sorted(line.split(":")[0] for line in concise(cwd=tmp_path)[1].splitlines())  # noqa: E731
    assert files() == ["pkg/one_settings.py"]
    assert files() == ["pkg/one_settings.py"]  # the remembered discovery is written on the second run
    assert (tmp_path / ".tenantlint_cache" / "discovery.json").exists()
    time.sleep(0.01)
    (tmp_path / "pkg" / "two_settings.py").write_text(settings)
    assert files() == ["pkg/one_settings.py", "pkg/two_settings.py"]
    gitignore = tmp_path / ".gitignore"
    gitignore.write_text("two_settings.py\n")
    os.utime(gitignore, ns=(gitignore.stat().st_atime_ns, gitignore.stat().st_mtime_ns + 1_000_000))
    assert files() == ["pkg/one_settings.py"]
    (tmp_path / "pkg" / "one_settings.py").unlink()
    assert files() == []


def test_a_warm_cache_gives_the_same_json_and_sarif_with_codemod_edits(tmp_path):
    """The cache keeps findings as data, not the plans codemod fixes carry: a report that shows
    their edits checks those files again, so cold and warm reports are the same."""
    project = tmp_path / "project"
    shutil.copytree(SAMPLE, project / "sample")
    for output_format in ("json", "sarif"):
        cold = run("check", "--output-format", output_format, "--unsafe-fixes", "--no-cache", ".", cwd=project)
        run("check", ".", cwd=project)  # fills the cache
        warm = run("check", "--output-format", output_format, "--unsafe-fixes", ".", cwd=project)
        assert (warm.exit_code, warm.output) == (cold.exit_code, cold.output)
    report = json.loads(run("check", "--output-format", "json", "--unsafe-fixes", ".", cwd=project).output)
    assert all(finding["fix"]["edits"] for finding in report if finding["code"] in ("TL101", "TL501")
               or (finding["code"] == "TL201" and "no fix offered" not in finding["message"]))


def test_a_warm_run_reuses_the_settings_search_until_a_folder_changes(tmp_path):
    """The settings search is remembered like discovery: a new settings module is found on the next run."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "views.py").write_text("from django.core.cache import cache\n\n\n"
                                               "def load(uid):\n    return cache.get(f'user:{uid}')\n")
    (tmp_path / "pyproject.toml").write_text("[tool.tenantlint]\n")
    first = run("check", "--output-format", "concise", ".", cwd=tmp_path)
    assert first.exit_code == 1 and (tmp_path / ".tenantlint_cache" / "settings.json").exists()
    (tmp_path / "settings.py").write_text(
        'INSTALLED_APPS = ["django_tenants"]\nCACHES = {"default": {"KEY_FUNCTION": "django_tenants.cache.make_key"}}\n')
    second = run("check", "--output-format", "concise", ".", cwd=tmp_path)
    assert (second.exit_code, second.output) == (0, "")  # the new settings' tenant KEY_FUNCTION scopes the key


def test_a_settings_module_knows_its_leaves_in_other_project_folders_whatever_was_checked_first(tmp_path):
    """A test project's settings import the library's base settings: a finding in the base names that
    leaf, with one process (the library's file checked first) and with several, the same."""
    (tmp_path / "lib" / "corelib").mkdir(parents=True)
    (tmp_path / "lib" / "corelib" / "__init__.py").write_text("")
    (tmp_path / "lib" / "corelib" / "settings_base.py").write_text(
        'MIDDLEWARE = [\n    "django.middleware.security.SecurityMiddleware",\n'
        '    # "corelib.middleware.RetiredMiddleware",\n]\n')
    (tmp_path / "test_project" / "test_project").mkdir(parents=True)
    (tmp_path / "test_project" / "test_project" / "__init__.py").write_text("")
    (tmp_path / "test_project" / "test_project" / "settings.py").write_text("from corelib.settings_base import *\n")
    (tmp_path / "test_project" / "manage.py").write_text(
        'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_project.settings")\n')
    one = concise("--no-cache", "--jobs", "1", "--select", "TL302", cwd=tmp_path)
    assert one == (1, "lib/corelib/settings_base.py:3:5: TL302 middleware 'corelib.middleware.RetiredMiddleware' "
                      "commented out of MIDDLEWARE names nothing the project still defines: a stale line to delete, "
                      "not to uncomment (Django would fail to start) (as ../../test_project/test_project/settings.py "
                      "leaves the settings)\n")
    assert concise("--no-cache", "--jobs", "2", "--select", "TL302", cwd=tmp_path) == one


def _tree(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*.py"))}


def test_fix_and_diff_identical_with_one_process_or_several_and_fixed_in_the_workers(tmp_path, monkeypatch):
    """--fix and --diff fix the files where they are checked, in the worker pool: the same diff and the same
    files written as in one process, and no file fixed in the parent."""
    from tenantlint import fixing

    fixed_in = tmp_path / "fixed-in"
    real_fix_source = fixing.fix_source

    def recording(engine, path, *args, **kwargs):
        with open(fixed_in, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        return real_fix_source(engine, path, *args, **kwargs)

    monkeypatch.setattr(fixing, "fix_source", recording)
    projects = {}
    for jobs in ("1", "2"):
        project = projects[jobs] = tmp_path / f"jobs-{jobs}"
        for code in ("TL101", "TL201", "TL401", "TL402", "TL501"):
            shutil.copytree(CASES / code, project / code)
    before = _tree(projects["1"])
    diffs = {jobs: run("check", "--diff", "--unsafe-fixes", "--no-cache", "--jobs", jobs, ".", cwd=project)
             for jobs, project in projects.items()}
    assert diffs["1"].exit_code == diffs["2"].exit_code == 1
    assert diffs["1"].output == diffs["2"].output.replace("jobs-2", "jobs-1")
    assert diffs["1"].output.count("\n+++ ") >= 10
    assert _tree(projects["1"]) == _tree(projects["2"]) == before  # a diff writes nothing
    results, where = {}, {}
    for jobs, project in projects.items():
        fixed_in.unlink(missing_ok=True)
        results[jobs] = run("check", "--fix", "--unsafe-fixes", "--no-cache", "--jobs", jobs, "--output-format",
                            "concise", ".", cwd=project)
        where[jobs] = {int(pid) for pid in fixed_in.read_text().split()}
    assert results["1"].output == results["2"].output
    assert _tree(projects["1"]) == _tree(projects["2"]) != before
    assert where["1"] == {os.getpid()}
    assert where["2"] and os.getpid() not in where["2"]  # every file fixed in a worker
