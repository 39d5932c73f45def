"""The prefilter skips a file for a rule only when the rule cannot find anything in it."""

from __future__ import annotations

import pytest

import tenantlint.engine
from lintutil import CASES, SAMPLE, lint
from tenantlint.engine import TriggerWord
from test_cli import run


@pytest.mark.parametrize(("word", "text", "found"), [
    ("request", "requested", True),
    (r"\brequest\b", "requested = 1", False),
    (r"\brequest\b", "prerequest = 1", False),
    (r"\brequest\b", "def view(request):", True),
    (r"\brequest\b", "request", True),
    (r"\brequest\b", "a_request, request_b, request", True),  # a later occurrence counts
    (r"\brequest\b", "self.request.user", True),
    (r"Token\b", "AccessToken(raw)", True),
    (r"Token\b", "Tokenizer()", False),
    (r"\bdecode", "jwt.decode_complete(raw)", True),
    (r"\bdecode", "undecoded", False),
    (r"\bget_user\b", "def get_user(self, token):", True),
    (r"\bget_user\b", "get_user_model()", False),
    (r"\bscope\b", "étéscope = 1", False),  # identifiers are Unicode
])
def test_words_with_boundaries(word, text, found):
    assert TriggerWord(word).found_in(text) is found


def _findings(paths):
    diagnostics, errors = lint(paths, select=["ALL"])
    assert not errors
    return sorted((d.path, d.line, d.col, d.code, d.message) for d in diagnostics)


@pytest.mark.parametrize("folder", sorted(p.name for p in CASES.iterdir() if p.is_dir()) + ["sample"])
def test_prefilter_loses_no_finding(folder, monkeypatch):
    """Every rule given every file finds exactly what the rules given only the files with their words find."""
    path = SAMPLE if folder == "sample" else CASES / folder
    filtered = _findings(path)
    monkeypatch.setattr(tenantlint.engine.TriggerWord, "found_in", lambda word, text: True)
    assert _findings(path) == filtered


def test_a_word_inside_a_longer_name_does_not_trigger(tmp_path):
    """`requested`, `get_user_model` and `Tokenizer` are not the names TL101 and TL501 look for: the file
    is not parsed (its syntax error unreported), while `request` alone makes it parsed."""
    target = tmp_path / "models.py"
    target.write_text("requested = get_user_model()\nTokenizer.undecoded\ndef f(:\n")
    assert run("check", "--output-format", "concise", "--no-cache", str(tmp_path)).exit_code == 0
    target.write_text("def view(request):\ndef f(:\n")
    result = run("check", "--output-format", "concise", "--no-cache", str(tmp_path))
    assert (result.exit_code, result.output.split(" ")[1]) == (1, "TL000")


@pytest.mark.parametrize(("text", "wanted"), [
    ("import threading\n_l = threading.local()\ndef get_response(): pass\n", True),
    ("from django_multitenant.utils import set_current_tenant\ndef process_request(self, r): pass\n", True),
    ("def get_response(): pass\n", False),  # a middleware word, and none of the required group
    ("import threading\n_l = threading.local()\n", False),  # the required group, and no trigger
])
def test_a_required_word_may_be_one_of_several(text, wanted):
    from tenantlint.config import Config
    from tenantlint.engine import Engine

    engine = Engine(Config(select=["TL605"]), files=[])
    assert bool(engine._rules_wanting("middleware.py", text)) is wanted
