"""A checked repository is untrusted input: its cache, its links, its special files and its
permissions must never make tenantlint run code, hang, crash, or write outside the files it fixes.

Root ignores permission bits: when the suite runs as root, the permission tests run the command
through `setpriv` without the capabilities that let root past them (CAP_DAC_OVERRIDE,
CAP_DAC_READ_SEARCH, CAP_FOWNER), so the kernel checks the bits as for any user."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
COMMENTED = "MIDDLEWARE = [\n    'a.b.C',\n    # 'x.y.Z',\n]\n"
FIXED = COMMENTED.replace("# 'x.y.Z'", "'x.y.Z'")
TL302 = "TL302 middleware 'x.y.Z' is commented out of MIDDLEWARE, so it never runs"


def unprivileged_prefix() -> list[str]:
    """What runs a command so that permission bits hold for it, whoever runs the suite."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "the permission tests need setpriv (util-linux) when run as root; .ci/run installs it"
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def tenantlint(*args, cwd, unprivileged: bool = False, stdin: bytes | None = None, timeout=120):
    """The real command in a subprocess."""
    prefix = unprivileged_prefix() if unprivileged else []
    return subprocess.run([*prefix, str(BIN / "tenantlint"), *args], cwd=cwd, input=stdin, capture_output=True,
                          timeout=timeout)


class _Payload:
    """What a crafted pickle would run when loaded: it creates a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def locked_tmp_path(tmp_path):
    """tmp_path, with every permission given back afterwards so that it can be removed."""
    yield tmp_path
    for path in [tmp_path, *tmp_path.rglob("*")]:
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry below `folder`: file contents, link targets, folders."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = "link:" + os.readlink(path)
        elif path.is_file():
            found[key] = path.read_bytes()
        elif path.is_dir():
            found[key] = "dir"
    return found


# -- the cache ------------------------------------------------------------------------------

def _crafted_cache(project: Path, marker: Path) -> None:
    cache = project / ".tenantlint_cache"
    cache.mkdir()
    for name in ("results.pickle", "discovery.pickle", "results.json", "discovery.json", "settings.json"):
        (cache / name).write_bytes(pickle.dumps(_Payload(marker)))


def test_a_crafted_cache_runs_nothing_and_is_rebuilt(tmp_path):
    project, marker = tmp_path / "project", tmp_path / "PWNED"
    project.mkdir()
    (project / "settings.py").write_text(COMMENTED)
    _crafted_cache(project, marker)
    first = tenantlint("check", "--output-format", "concise", ".", cwd=project)
    assert not marker.exists()
    assert first.stdout.decode() == f"settings.py:3:5: {TL302}\n"
    assert first.returncode == 1
    cache = project / ".tenantlint_cache"
    assert first.stderr.decode().splitlines() == [
        f"tenantlint: ignoring {cache / name}: it was not written by tenantlint for this user (a cache from another "
        "machine, user or repository is never trusted); it will be rebuilt"
        for name in ("discovery.json", "settings.json", "results.json")]
    second = tenantlint("check", "--output-format", "concise", ".", cwd=project)
    assert (second.returncode, second.stdout, second.stderr) == (1, first.stdout, b"")  # rebuilt, and trusted
    fixed = tenantlint("check", "--fix", "--unsafe-fixes", ".", cwd=project)
    assert fixed.returncode == 0 and not marker.exists()
    assert (project / "settings.py").read_text() == FIXED


def test_a_forged_cache_cannot_hide_a_finding(tmp_path):
    """A cache committed to a repository could say that a file has no findings: it is not believed."""
    project = tmp_path / "project"
    project.mkdir()
    settings = project / "settings.py"
    settings.write_text(COMMENTED)
    assert tenantlint("check", ".", cwd=project).returncode == 1  # a real cache now exists
    results = project / ".tenantlint_cache" / "results.json"
    signature, _, payload = results.read_bytes().partition(b"\n")
    stored = json.loads(payload)
    for entry in stored["data"].values():
        entry["diagnostics"] = []  # "no findings here"
    forged = json.dumps(stored).encode()
    for signed in (b"0" * 64, hashlib.blake2b(forged, digest_size=32).hexdigest().encode(), signature):
        results.write_bytes(signed + b"\n" + forged)
        result = tenantlint("check", "--output-format", "concise", ".", cwd=project)
        assert result.stdout.decode() == f"settings.py:3:5: {TL302}\n", signed
        assert b"it was not written by tenantlint for this user" in result.stderr


def _sign(body: bytes) -> bytes:
    """A cache file as this user's tenantlint would sign it."""
    from tenantlint import store

    return store._signature(store._signing_key(), body) + b"\n" + body


@pytest.mark.parametrize("damage", ["not json", "wrong shape", "fifo", "folder", "huge"])
def test_a_damaged_cache_file_is_one_line_and_rebuilt(tmp_path, damage):
    from tenantlint.store import MAX_STORE_BYTES

    project = tmp_path / "project"
    project.mkdir()
    (project / "settings.py").write_text(COMMENTED)
    assert tenantlint("check", ".", cwd=project).returncode == 1
    results = project / ".tenantlint_cache" / "results.json"
    payload = results.read_bytes().partition(b"\n")[2]
    results.unlink()
    if damage == "not json":
        results.write_bytes(_sign(b"{not json"))
        reason = "it is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    elif damage == "wrong shape":
        stored = json.loads(payload)
        next(iter(stored["data"].values()))["diagnostics"] = [["TL302", 7, [1, 2, 3, 4], "warning", None]]
        results.write_bytes(_sign(json.dumps(stored).encode()))
        reason = "not a tenantlint cache (a finding)"
    elif damage == "fifo":
        os.mkfifo(results)
        reason = "it is not a regular file"
    elif damage == "folder":
        results.mkdir()
        reason = "it is not a regular file"
    else:
        with open(results, "wb") as handle:
            handle.truncate(MAX_STORE_BYTES + 1)  # sparse: costs no disk
        reason = "it is larger than 256 MB"
    result = tenantlint("check", "--output-format", "concise", ".", cwd=project, timeout=60)
    assert result.stdout.decode() == f"settings.py:3:5: {TL302}\n"
    assert result.stderr.decode() == f"tenantlint: ignoring {results}: {reason}; it will be rebuilt\n"
    if damage != "folder":
        again = tenantlint("check", "--output-format", "concise", ".", cwd=project, timeout=60)
        assert (again.stdout, again.stderr) == (result.stdout, b"")


def test_the_cache_is_never_written_through_links(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "settings.py").write_text(COMMENTED)
    (project / ".tenantlint_cache").symlink_to(elsewhere, target_is_directory=True)
    result = tenantlint("check", ".", cwd=project)
    assert result.returncode == 1 and list(elsewhere.iterdir()) == []
    (project / ".tenantlint_cache").unlink()
    (project / ".tenantlint_cache").mkdir()
    (project / ".tenantlint_cache" / "CACHEDIR.TAG").symlink_to(elsewhere / "created-through-a-link")
    (project / ".tenantlint_cache" / ".gitignore").symlink_to(elsewhere / "also-created")
    assert tenantlint("check", ".", cwd=project).returncode == 1
    assert list(elsewhere.iterdir()) == []
    assert (project / ".tenantlint_cache" / "results.json").is_file()


# -- special files, links, permissions --------------------------------------------------------

def test_a_fifo_named_like_python_is_reported_not_read(tmp_path):
    (tmp_path / "settings.py").write_text(COMMENTED)
    os.mkfifo(tmp_path / "pipe.py")
    result = tenantlint("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path, timeout=60)
    assert result.stdout.decode().splitlines() == ["pipe.py:1:1: TL000 cannot read file: not a regular file",
                                                   f"settings.py:3:5: {TL302}"]
    assert result.returncode == 2


def test_a_linked_file_is_fixed_in_place_and_the_link_kept(tmp_path):
    project = tmp_path / "project"
    (project / "real").mkdir(parents=True)
    (project / "real" / "base_settings.py").write_text(COMMENTED)
    (project / "settings.py").symlink_to(project / "real" / "base_settings.py")
    result = tenantlint("check", "--fix", "--unsafe-fixes", "--no-cache", "settings.py", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "settings.py").is_symlink()
    assert (project / "real" / "base_settings.py").read_text() == FIXED


def test_a_link_out_of_the_project_is_reported_but_not_written_through(tmp_path):
    project, outside = tmp_path / "project", tmp_path / "outside_settings.py"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.tenantlint]\n")
    outside.write_text(COMMENTED)
    (project / "linked_settings.py").symlink_to(outside)
    (project / "own_settings.py").write_text(COMMENTED)
    result = tenantlint("check", "--fix", "--unsafe-fixes", "--no-cache", "--output-format", "concise", ".",
                        cwd=project)
    assert outside.read_text() == COMMENTED
    assert (project / "own_settings.py").read_text() == FIXED
    assert result.stderr.decode() == (f"tenantlint: error: linked_settings.py: not fixed: it is a link to {outside}, "
                                      "outside the project; not written through\n")
    assert result.stdout.decode() == f"linked_settings.py:3:5: {TL302}\n"
    assert result.returncode == 2


def test_an_unreadable_folder_is_tl000_and_the_rest_is_checked(locked_tmp_path):
    folder = locked_tmp_path
    (folder / "settings.py").write_text(COMMENTED)
    (folder / "private").mkdir()
    (folder / "private" / "hidden_settings.py").write_text(COMMENTED)
    (folder / "private").chmod(0)
    result = tenantlint("check", "--output-format", "concise", ".", cwd=folder, unprivileged=True)
    assert result.stdout.decode().splitlines() == ["private:1:1: TL000 cannot read folder: Permission denied",
                                                   f"settings.py:3:5: {TL302}"]
    assert (result.returncode, result.stderr) == (2, b"")


def test_add_noqa_with_an_unreadable_folder_exits_2(locked_tmp_path):
    folder = locked_tmp_path
    (folder / "settings.py").write_text(COMMENTED)
    (folder / "private").mkdir()
    (folder / "private").chmod(0)
    result = tenantlint("check", "--add-noqa", ".", cwd=folder, unprivileged=True)
    assert (folder / "settings.py").read_text() == COMMENTED.replace("# 'x.y.Z',", "# 'x.y.Z',  # noqa: TL302")
    assert result.stderr.decode() == ("Added noqa directives to 1 line.\n"
                                      "tenantlint: error: private: cannot read folder: Permission denied\n")
    assert result.returncode == 2


def test_fix_in_an_unwritable_folder_is_one_line_and_exit_2(locked_tmp_path):
    folder = locked_tmp_path
    (folder / "locked").mkdir()
    (folder / "locked" / "settings.py").write_text(COMMENTED)
    (folder / "other_settings.py").write_text(COMMENTED)
    (folder / "locked").chmod(0o555)
    result = tenantlint("check", "--fix", "--unsafe-fixes", "--no-cache", "--output-format", "concise", ".",
                        cwd=folder, unprivileged=True)
    assert result.stderr.decode() == (f"tenantlint: error: locked/settings.py: not fixed: cannot write in its folder "
                                      f"{folder / 'locked'}: Permission denied\n")
    assert result.stdout.decode() == f"locked/settings.py:3:5: {TL302}\n"
    assert result.returncode == 2
    assert (folder / "locked" / "settings.py").read_text() == COMMENTED
    assert (folder / "other_settings.py").read_text() == FIXED


def test_fix_of_an_unwritable_file_is_one_line_and_exit_2(locked_tmp_path):
    folder = locked_tmp_path
    (folder / "settings.py").write_text(COMMENTED)
    (folder / "settings.py").chmod(0o444)
    result = tenantlint("check", "--fix", "--unsafe-fixes", "--no-cache", "--output-format", "concise", ".",
                        cwd=folder, unprivileged=True)
    assert result.stderr.decode() == "tenantlint: error: settings.py: not fixed: it is read-only; not overwritten\n"
    assert result.returncode == 2 and (folder / "settings.py").read_text() == COMMENTED


def test_a_missing_path_among_several_is_one_line_and_the_others_are_checked(tmp_path):
    (tmp_path / "settings.py").write_text(COMMENTED)
    result = tenantlint("check", "--output-format", "concise", "nowhere.py", "settings.py", "gone/", cwd=tmp_path)
    assert result.stdout.decode() == f"settings.py:3:5: {TL302}\n"
    assert result.stderr.decode() == ("tenantlint: error: nowhere.py: no such file or directory\n"
                                      "tenantlint: error: gone/: no such file or directory\n")
    assert result.returncode == 2


def test_a_file_that_vanishes_after_the_walk_is_tl000_and_exit_2(tmp_path, monkeypatch):
    from test_cli import run

    from tenantlint import discovery

    (tmp_path / "settings.py").write_text(COMMENTED)
    walked = discovery.discover

    def walk_then_vanish(*args, **kwargs):
        found = walked(*args, **kwargs)
        (tmp_path / "settings.py").unlink()
        return found

    monkeypatch.setattr(discovery, "discover", walk_then_vanish)
    result = run("check", "--no-cache", "--output-format", "concise", str(tmp_path))
    assert result.output == f"{tmp_path / 'settings.py'}:1:1: TL000 cannot read file: No such file or directory\n"
    assert result.exit_code == 2


def _ctrl_c_heard():
    """In the child: Ctrl-C as a terminal gives it, even when the tests run in the background (which
    ignores SIGINT, and Python then installs no KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_exits_130_naming_the_files_already_fixed(tmp_path):
    original = COMMENTED + "# padding, so that the run takes a while\n" * 2000
    for index in range(300):
        (tmp_path / f"app{index:03}_settings.py").write_text(original)
    process = subprocess.Popen([str(BIN / "tenantlint"), "check", "--fix", "--unsafe-fixes", "--no-cache", "."],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=_ctrl_c_heard)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and all(p.read_text() == original for p in tmp_path.glob("app00*_settings.py")):
        time.sleep(0.05)  # until the first files are fixed
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    lines = stderr.decode().splitlines()
    assert process.returncode == 130
    assert len(lines) == 1 and lines[0].startswith("tenantlint: interrupted; already fixed: "), lines
    named = set(lines[0].split(": ", 2)[2].split(", "))
    fixed = {p.name for p in tmp_path.glob("*.py") if p.read_text() != original}
    assert named == fixed and fixed


# -- conventions --------------------------------------------------------------------------

def test_stdin_filename_alone_reads_standard_input(tmp_path):
    (tmp_path / "other_settings.py").write_text(COMMENTED)  # not checked: standard input is
    result = tenantlint("check", "--stdin-filename", "app/settings.py", "--output-format", "concise",
                        cwd=tmp_path, stdin=COMMENTED.encode())
    assert (result.returncode, result.stdout.decode(), result.stderr) == (1, f"app/settings.py:3:5: {TL302}\n", b"")
    named = tenantlint("check", "--stdin-filename", "app/settings.py", "--output-format", "concise", "other_settings.py",
                       cwd=tmp_path, stdin=COMMENTED.encode())
    assert named.stdout.decode() == f"app/settings.py:3:5: {TL302}\n"
    assert named.stderr.decode() == ("tenantlint: warning: ignoring other_settings.py in favour of standard input "
                                     "(--stdin-filename)\n")


def test_stdin_without_a_name_says_what_cannot_run(tmp_path):
    result = tenantlint("check", "-", "--output-format", "concise", cwd=tmp_path, stdin=COMMENTED.encode())
    assert (result.returncode, result.stdout) == (0, b"")
    assert result.stderr.decode() == ("tenantlint: note: standard input has no file name: the settings rules (TL301, "
                                      "TL302, TL303) and per-file-ignores cannot apply; name it with --stdin-filename\n")


@pytest.mark.parametrize(("where", "path"), [(".", "."), (".", "backend"), ("backend", "."), ("backend/app", ".."),
                                             ("backend", "app/..")])
def test_excludes_are_anchored_at_the_configuration_folder(tmp_path, where, path):
    (tmp_path / "pyproject.toml").write_text('[tool.tenantlint]\nextend-exclude = ["backend/conf"]\n')
    for folder in ("backend/conf", "backend/app/conf"):  # only the first is excluded
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "settings.py").write_text(COMMENTED)
    result = tenantlint("check", "--no-cache", "--output-format", "concise", path, cwd=tmp_path / where)
    reported = {os.path.normpath(os.path.join(where, line.split(":")[0])) for line in result.stdout.decode().splitlines()}
    assert reported == {"backend/app/conf/settings.py"}
    named = tenantlint("check", "--no-cache", "--output-format", "concise", "backend/conf", cwd=tmp_path)
    assert named.stdout.decode() == f"backend/conf/settings.py:3:5: {TL302}\n"  # a folder named is checked


# -- everything at once ---------------------------------------------------------------------

@pytest.fixture
def hostile_repository(locked_tmp_path):
    """A crafted cache, a symlink loop, a link out of the project, an unreadable folder, a FIFO, a huge
    generated module, undecodable bytes, a settings file to fix."""
    folder = locked_tmp_path
    project = folder / "project"
    (project / "app").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.tenantlint]\ntenancy = "schema"\n')
    (project / "app" / "settings.py").write_text(COMMENTED)
    (project / "app" / "broken.py").write_bytes(b"request = '\xff'\n")
    (project / "app" / "huge.py").write_text(
        "from django.core.cache import cache\n\ndef remember(user_id):\n"
        + "".join(f"    cache.set(f'profile:{i}:{{user_id}}', 1)\n" for i in range(3000)))
    (project / "loop").symlink_to(project, target_is_directory=True)
    (folder / "outside_settings.py").write_text(COMMENTED)
    (project / "app" / "linked_settings.py").symlink_to(folder / "outside_settings.py")
    (project / "private").mkdir()
    (project / "private" / "secret_settings.py").write_text(COMMENTED)
    os.mkfifo(project / "app" / "pipe.py")
    marker = folder / "PWNED"
    _crafted_cache(project, marker)
    (project / "private").chmod(0)
    return folder, project, marker


def test_the_hostile_repository_through_every_front_end(hostile_repository):
    folder, project, marker = hostile_repository
    before = _snapshot(folder)
    flake8 = subprocess.run([*unprivileged_prefix(), str(BIN / "flake8"), "--select=TL", "app/settings.py",
                             "app/huge.py", "app/broken.py"], cwd=project, capture_output=True, timeout=300)
    assert b"Traceback" not in flake8.stdout + flake8.stderr
    assert flake8.stdout.decode().count(" TL201 ") == 3000
    runs = {
        "check": ["check", "--output-format", "concise", "."],
        "diff": ["check", "--diff", "--unsafe-fixes", "."],
        "fix": ["check", "--fix", "--unsafe-fixes", "--output-format", "concise", "."],
    }
    outputs = {}
    for name, args in runs.items():
        result = tenantlint(*args, cwd=project, unprivileged=True, timeout=300)
        outputs[name] = result
        assert b"Traceback" not in result.stdout + result.stderr, name
        assert result.returncode == 2, (name, result.stderr)
    check = outputs["check"].stdout.decode()
    assert "private:1:1: TL000 cannot read folder: Permission denied" in check
    assert "app/pipe.py:1:1: TL000 cannot read file: not a regular file" in check
    assert "app/broken.py:1:1: TL000 cannot decode file as utf-8: " in check
    assert check.count(" TL201 ") == 3000
    assert "tenantlint: error: app/linked_settings.py: not fixed: it is a link to" in outputs["fix"].stderr.decode()
    after = _snapshot(folder)
    changed = {key for key in set(before) | set(after) if before.get(key) != after.get(key)}
    assert not marker.exists()
    # only the files fixed and tenantlint's own cache changed
    assert {key for key in changed if not key.startswith("project/.tenantlint_cache")} == {
        "project/app/settings.py", "project/app/huge.py"}
    assert after["project/app/settings.py"] == FIXED.encode()


@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_pre_commit_on_the_hostile_repository_runs_nothing(hostile_repository, tmp_path_factory):
    folder, project, marker = hostile_repository
    home = tmp_path_factory.mktemp("pre-commit")
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    tracked = ["pyproject.toml", "app/settings.py", "app/broken.py", "app/huge.py", "app/linked_settings.py", "loop",
               ".tenantlint_cache"]  # git stores no FIFO, and cannot read the locked folder
    for command in (["git", "init", "-q"], ["git", "add", "-f", *tracked]):
        subprocess.run(command, cwd=project, check=True, env=env, capture_output=True)
    before = _snapshot(folder)
    for hook, says in (("tenantlint", "app/huge.py:5:15: TL201 "), ("tenantlint-fix", "(3000 fixed, 2 remaining)")):
        result = subprocess.run([*unprivileged_prefix(), str(BIN / "pre-commit"), "try-repo", str(ROOT), hook,
                                 "--all-files"], cwd=project, capture_output=True, text=True, env=env, timeout=900)
        assert "Traceback" not in result.stdout + result.stderr
        assert result.returncode == 1, result.stdout + result.stderr
        assert says in result.stdout, result.stdout
    assert not marker.exists()
    after = _snapshot(folder)
    changed = {key for key in set(before) | set(after) if before.get(key) != after.get(key)}
    # the fix hook applies safe fixes only: TL201's schema segments in huge.py, not TL302's in settings.py
    assert {key for key in changed if not key.startswith(("project/.tenantlint_cache", "project/.git/"))} == {
        "project/app/huge.py"}
