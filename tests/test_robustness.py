"""Any input, no crash, no lost file: odd files, rule isolation, standard input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import MIXED, run

COMMENTED = "MIDDLEWARE = [\n    'a.b.C',\n    # 'x.y.Z',\n]\n"
TL302_LINE = "TL302 middleware 'x.y.Z' is commented out of MIDDLEWARE, so it never runs"
PLAIN = "def index(request, cache):\n    return cache\n"  # trigger words, so the file is parsed


def lines(result):
    return [line.split(": ", 1)[1] if ": " in line else line for line in result.output.splitlines()]


ODD_FILES = {
    "bom_settings.py": (b"\xef\xbb\xbf" + COMMENTED.encode(), [f"3:5: {TL302_LINE}"]),
    "crlf_settings.py": (COMMENTED.replace("\n", "\r\n").encode(), [f"3:5: {TL302_LINE}"]),
    "mixed_newlines_settings.py": (b"MIDDLEWARE = [\r\n    'a.b.C',\n    # 'x.y.Z',\r]\n", [f"3:5: {TL302_LINE}"]),
    "latin1_settings.py": ("# -*- coding: latin-1 -*-\n# Caf\xe9\n".encode("latin-1") + COMMENTED.encode(), [f"5:5: {TL302_LINE}"]),
    "undecodable.py": (b"x = 1\ny = '\xff'\n", ["2:1: TL000 cannot decode file as utf-8: 'utf-8' codec can't decode byte 0xff in position 11: invalid start byte"]),
    "bad_cookie.py": (b"# -*- coding: klingon -*-\nx = 1\n", ["1:1: TL000 cannot decode file: unknown encoding: klingon"]),
    "nul_bytes.py": (b"request = 1\x00\n", ["1:1: TL000"]),
    "empty.py": (b"", []),
    "tabs.py": (b"class A:\n\tdef f(self, request):\n\t\treturn request\n", []),
    "match_statement.py": (b"def f(request):\n    match request.method:\n        case 'GET':\n            return 1\n        case _:\n            return 2\n", []),
    "syntax_error.py": (b"def f(request:\n", ["1:6: TL000 syntax error: '(' was never closed"]),
    "non-ascii \xc3\xa9 name.py": (PLAIN.encode(), []),
}


@pytest.fixture
def odd_tree(tmp_path):
    for name, (data, _) in ODD_FILES.items():
        (tmp_path / name.encode("latin-1").decode("utf-8")).write_bytes(data)
    (tmp_path / "package.py").mkdir()  # a directory named x.py
    (tmp_path / "package.py" / "settings.py").write_bytes(COMMENTED.encode())
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)  # a symlink loop
    (tmp_path / "dangling.py").symlink_to(tmp_path / "nowhere.py")  # cannot be opened, even by root
    return tmp_path


def test_odd_files_each_get_a_clear_result_and_the_rest_is_checked(odd_tree):
    result = run("check", "--output-format", "concise", "--no-cache", str(odd_tree))
    assert "Traceback" not in result.output
    assert result.exit_code == 2  # the dangling link cannot be read
    by_file: dict[str, list[str]] = {}
    for line in result.output.splitlines():
        path, _, rest = line.partition(":")
        by_file.setdefault(os.path.relpath(path, odd_tree), []).append(rest)
    for name, (_, expected) in ODD_FILES.items():
        got = by_file.get(name.encode("latin-1").decode("utf-8"), [])
        assert [g[: len(e)] for g, e in zip(got, expected)] == expected and len(got) == len(expected), name
    assert by_file["package.py/settings.py"] == [f"3:5: {TL302_LINE}"]
    assert by_file["dangling.py"] == ["1:1: TL000 cannot read file: No such file or directory"]
    assert not any(name.startswith("loop") for name in by_file)


def test_fix_leaves_odd_files_byte_identical_unless_it_fixed_them(odd_tree):
    before = {p: p.read_bytes() for p in odd_tree.iterdir() if p.is_file() and not p.is_symlink()}
    result = run("check", "--fix", "--unsafe-fixes", "--no-cache", str(odd_tree))
    assert "Traceback" not in result.output
    for path, data in before.items():
        after = path.read_bytes()
        if "settings" in path.name:
            assert after == data.replace(b"# 'x.y.Z'", b"'x.y.Z'"), path.name  # fixed, encoding, BOM and newlines kept
        else:
            assert after == data, path.name


def test_ten_megabyte_file(tmp_path):
    big = tmp_path / "generated.py"
    big.write_text("".join(f"VALUE_{i} = {{'request': {i}, 'cache': 'k{i}'}}\n" for i in range(200_000)))
    assert big.stat().st_size > 10_000_000
    result = run("check", "--output-format", "concise", "--no-cache", str(big))
    assert (result.exit_code, result.output) == (0, "")


def test_deeply_nested_expression_is_tl000(tmp_path):
    deep = tmp_path / "deep.py"
    deep.write_text("request = " + "(" * 5000 + "1" + ")" * 5000 + "\n")
    result = run("check", "--output-format", "concise", "--no-cache", str(deep))
    assert result.exit_code == 1
    assert ": TL000 " in result.output and "Traceback" not in result.output


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="parses on 3.12+")
def test_new_syntax_on_an_older_python_is_tl000(tmp_path):
    generic = tmp_path / "generic.py"
    generic.write_text("class Box[T]:\n    request: T\n")
    result = run("check", "--output-format", "concise", "--no-cache", str(generic))
    assert result.output == (f"{generic}:1:10: TL000 the file uses Python 3.12 syntax; tenantlint is running on "
                             f"{sys.version_info.major}.{sys.version_info.minor} (parser: invalid syntax)\n")


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="parses on 3.12+")
@pytest.mark.parametrize("code", [
    'key = f"{"nested"}"\n',  # PEP 701: the outer quote inside the braces
    "type Key = str\n",  # PEP 695 alias
    "def scoped[T](request: T) -> T:\n    return request\n",
])
def test_python_312_syntax_is_named(code):
    from tenantlint.sourcefile import newer_syntax

    assert newer_syntax(code) == "Python 3.12 syntax"


def test_a_plain_syntax_error_names_no_version():
    from tenantlint.sourcefile import newer_syntax

    assert newer_syntax("def f(request:\n") is None


@pytest.mark.skipif(sys.version_info < (3, 12), reason="PEP 695 and PEP 701 need Python 3.12")
def test_new_syntax_parses_on_new_python(tmp_path):
    generic = tmp_path / "generic.py"
    generic.write_text('class Box[T]:\n    request: T\n\nname = f"{"nested"}:{f"{1}"}"\n')
    result = run("check", "--output-format", "concise", "--no-cache", str(generic))
    assert (result.exit_code, result.output) == (0, "")


def test_internal_error_in_one_rule_is_isolated(tmp_path, monkeypatch):
    from tenantlint.rules.settings.tl301_mixed_session_jwt_auth import MixedSessionJwtAuth

    (tmp_path / "settings.py").write_text(MIXED + COMMENTED)
    (tmp_path / "other_settings.py").write_text(COMMENTED)

    def boom(self, view, ctx):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(MixedSessionJwtAuth, "check_settings", boom)
    result = run("check", "--output-format", "concise", "--no-cache", "--jobs", "1", str(tmp_path))
    assert result.exit_code == 2
    assert f"tenantlint: internal error in TL301 on {tmp_path / 'settings.py'}: ZeroDivisionError: division by zero" in result.output
    assert "Traceback" not in result.output
    assert f"{tmp_path / 'other_settings.py'}:3:5: {TL302_LINE}" in result.output  # other files still run
    assert f"{tmp_path / 'settings.py'}:10:5: {TL302_LINE}" in result.output  # other rules still run
    verbose = run("check", "--output-format", "concise", "--no-cache", "--jobs", "1", "--verbose", str(tmp_path))
    assert "Traceback (most recent call last)" in verbose.output


def _stdin(*args, data: bytes, cwd: Path):
    return subprocess.run([sys.executable, "-m", "tenantlint", "check", *args], input=data, capture_output=True, cwd=cwd)


def test_stdin_reports_under_the_given_name(tmp_path):
    result = _stdin("-", "--stdin-filename", "app/settings.py", "--output-format", "concise", data=COMMENTED.encode(), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.decode() == f"app/settings.py:3:5: {TL302_LINE}\n"


def test_stdin_fix_writes_fixed_text_to_stdout(tmp_path):
    crlf = COMMENTED.replace("\n", "\r\n").encode()
    result = _stdin("-", "--stdin-filename", "app/settings.py", "--fix", "--unsafe-fixes", data=crlf, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == crlf.replace(b"# 'x.y.Z'", b"'x.y.Z'")
    unfixed = _stdin("-", "--stdin-filename", "app/settings.py", "--fix", data=crlf, cwd=tmp_path)
    assert unfixed.returncode == 1 and unfixed.stdout == crlf
    assert f"app/settings.py:3:5: {TL302_LINE}" in unfixed.stderr.decode()


def test_stdin_without_a_name_and_with_a_syntax_error(tmp_path):
    result = _stdin("-", "--output-format", "concise", data=b"def f(request:\n", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.decode().startswith("-:1:6: TL000 syntax error: '(' was never closed")
    mixed = _stdin("-", "other.py", data=b"", cwd=tmp_path)
    assert mixed.returncode == 2


def test_interrupted_fix_leaves_no_half_written_or_temporary_file(tmp_path):
    """Ctrl-C or SIGTERM at any moment of --fix: each file is as it was or fully fixed, no temporary file."""
    import signal
    import time

    original = COMMENTED + "# padding, so that writing takes a while\n" * 2000
    fixed = original.replace("# 'x.y.Z'", "'x.y.Z'")
    for index in range(300):
        (tmp_path / f"app{index}_settings.py").write_text(original)
    for delay, sent in ((0.8, signal.SIGINT), (1.6, signal.SIGTERM), (2.4, signal.SIGINT)):
        process = subprocess.Popen([sys.executable, "-m", "tenantlint", "check", "--fix", "--unsafe-fixes", "--no-cache",
                                    "--jobs", "1", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        process.send_signal(sent)
        _, stderr = process.communicate(timeout=120)
        assert b"Traceback" not in stderr
        states = {path.read_text() for path in tmp_path.glob("*.py")}
        assert states <= {original, fixed}
        assert [p.name for p in tmp_path.iterdir() if not p.name.endswith("_settings.py")] == []


def test_a_ctrl_c_taken_by_another_thread_waits_until_the_written_file_is_counted(tmp_path):
    """The kernel gives a process's SIGINT to any thread that does not mask it (the worker pool has
    threads), and Python then raises in the main thread: the write must still finish being counted."""
    import signal
    import threading
    import time

    from tenantlint.fixing import FixOutcome, write_fixed
    from tenantlint.sourcefile import decode_source

    path = tmp_path / "settings.py"
    path.write_bytes(COMMENTED.encode())
    counted = []

    def count_after_a_ctrl_c():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.3)  # where an undeferred KeyboardInterrupt would be raised
        counted.append(path.name)

    waiting = threading.Event()
    bystander = threading.Thread(target=waiting.wait)  # a thread without a mask, as the pool's are
    bystander.start()
    heard = signal.signal(signal.SIGINT, signal.default_int_handler)  # also when the tests run in the background
    try:
        with pytest.raises(KeyboardInterrupt):
            write_fixed(str(path), COMMENTED.encode(), FixOutcome(str(path), decode_source(COMMENTED.encode()),
                                                                 "MIDDLEWARE = []\n"), written=count_after_a_ctrl_c)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, heard)
        waiting.set()
        bystander.join()
    assert counted == ["settings.py"] and path.read_text() == "MIDDLEWARE = []\n"
