"""The text of the project's Python files, read once each, for questions that span the project
("is this class named anywhere else?") before any file is parsed for them."""

from __future__ import annotations

import re
from typing import Iterator

_WORD = re.compile(r"\w+")
# a search of every file per name is quicker for the few names a project asks about; an index of each
# file's words, once, for a module that asks about thousands (a search per name would be quadratic)
_SEARCHES_BEFORE_INDEX = 64


class ProjectText:
    def __init__(self, python_files: tuple[str, ...]):
        self.python_files = python_files
        self._texts: dict[str, str] = {}
        self._words: dict[str, frozenset[str]] = {}
        self._asked = 0

    def text(self, path: str) -> str:
        if path not in self._texts:
            try:
                with open(path, "rb") as handle:
                    self._texts[path] = handle.read().decode("utf-8", "replace")
            except OSError:
                self._texts[path] = ""
        return self._texts[path]

    def files_naming(self, name: str) -> list[str]:
        """The files whose text holds `name` as a whole word."""
        return list(self._naming(name))

    def _naming(self, name: str) -> Iterator[str]:
        self._asked += 1
        if self._asked > _SEARCHES_BEFORE_INDEX and _WORD.fullmatch(name):
            yield from (path for path in self.python_files if name in self._words_of(path))
            return
        word = re.compile(rf"\b{re.escape(name)}\b")
        yield from (path for path in self.python_files if name in self.text(path) and word.search(self.text(path)))

    def _words_of(self, path: str) -> frozenset[str]:
        """The file's words (runs of word characters), found once: `name` is in them exactly when
        `\\bname\\b` would match, for any name made of word characters."""
        if path not in self._words:
            self._words[path] = frozenset(_WORD.findall(self.text(path)))
        return self._words[path]

    def named_beyond_its_definition(self, name: str) -> bool:
        """The class `name` is named somewhere besides its own `class name(...)` line (registered,
        subclassed, imported): code that is never named is dead, not shared."""
        word = re.compile(rf"\b{re.escape(name)}\b")
        definition = re.compile(rf"^\s*class\s+{re.escape(name)}\b")
        for path in self._naming(name):
            text = self.text(path)
            for line in text.splitlines():
                if word.search(line) and not definition.match(line):
                    return True
        return False
