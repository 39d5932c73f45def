"""The result cache in `.tenantlint_cache/`: one entry per file, keyed by its content.

An entry is reused only when the file's bytes hash the same, every file the
result depended on (base classes in other modules, settings modules) still has
the size and modification time it had, and tenantlint's version, the
configuration and the set of settings modules are the same (the cache's key;
another key starts the cache afresh).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass

from tenantlint import __version__
from tenantlint.results import FileResult

CACHE_DIR = ".tenantlint_cache"
_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by tenantlint.\n"


@dataclass
class Entry:
    digest: str
    dependencies: dict[str, tuple[int, int]]
    result: FileResult
    stamp: tuple[int, int] | None = None  # size and mtime when the digest was taken


def digest(data: bytes) -> str:
    import hashlib  # here: a warm run answers from file stamps and never hashes (nor loads OpenSSL)

    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


class ResultCache:
    def __init__(self, root: str, fingerprint: str):
        self.folder = os.path.join(root, CACHE_DIR)
        self.file = os.path.join(self.folder, "results.pickle")
        self.key = f"{__version__}\0{fingerprint}"
        self.entries: dict[str, Entry] = {}
        self.dirty = False
        try:
            with open(self.file, "rb") as handle:
                loaded = pickle.load(handle)
            if isinstance(loaded, dict) and loaded.get("key") == self.key:
                self.entries = loaded["entries"]
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError, KeyError):
            self.entries = {}

    def lookup(self, path: str) -> FileResult | None:
        """A hit without reading the file: its size and mtime are those its digest was taken at."""
        entry = self.entries.get(os.path.abspath(path))
        if entry is None or entry.stamp is None or _stamp(path) != entry.stamp:
            return None
        return self._valid(entry, path)

    def get(self, path: str, data: bytes) -> FileResult | None:
        entry = self.entries.get(os.path.abspath(path))
        if entry is None or entry.digest != digest(data):
            return None
        result = self._valid(entry, path)
        if result is not None:
            entry.stamp = _stamp(path)  # touched but unchanged: next time, stat it only
            self.dirty = True
        return result

    def _valid(self, entry: Entry, path: str) -> FileResult | None:
        if any(_stamp(dep) != stamp for dep, stamp in entry.dependencies.items()):
            return None
        result = entry.result
        for diagnostic in result.diagnostics:  # the same file may be named differently this time
            diagnostic.location = type(diagnostic.location)(path, *_span(diagnostic.location))
        result.path = path
        return result

    def put(self, path: str, data: bytes, result: FileResult) -> None:
        if result.errors:
            return  # an internal error is never remembered
        stamps = {dep: _stamp(dep) for dep in result.dependencies}
        if any(stamp is None for stamp in stamps.values()):
            return
        stored = FileResult(result.path, list(result.diagnostics), [], None, list(result.dependencies))
        self.entries[os.path.abspath(path)] = Entry(digest(data), stamps, stored, _stamp(path))
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            os.makedirs(self.folder, exist_ok=True)
            tag = os.path.join(self.folder, "CACHEDIR.TAG")
            if not os.path.exists(tag):
                with open(tag, "w", encoding="ascii") as handle:
                    handle.write(_TAG)
            ignore = os.path.join(self.folder, ".gitignore")
            if not os.path.exists(ignore):
                with open(ignore, "w", encoding="ascii") as handle:
                    handle.write("*\n")
            import tempfile  # only a run that found something new writes

            fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                pickle.dump({"key": self.key, "entries": self.entries}, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, self.file)
        except OSError:
            pass  # a cache that cannot be written is only a slower next run


def _span(location):
    return location.line, location.col, location.end_line, location.end_col


def clean(root: str) -> bool:
    import shutil

    folder = os.path.join(root, CACHE_DIR)
    if not os.path.isdir(folder):
        return False
    shutil.rmtree(folder)
    return True
