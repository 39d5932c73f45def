"""The result cache in `.tenantlint_cache/`: one entry per file, keyed by its content.

An entry is reused only when the file's bytes hash the same, every file the
result depended on (base classes in other modules, settings modules) still has
the size and modification time it had, and tenantlint's version, the
configuration and the set of settings modules are the same (the cache's key;
another key starts the cache afresh).

It is kept as a signed JSON store (`store.py`): a cache committed to a repository,
which could claim that a file has no findings, is not this user's and is never
believed; every value is checked for its type before use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tenantlint import __version__
from tenantlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, Related, Severity
from tenantlint.results import FileResult
from tenantlint.sourcefile import file_stamp
from tenantlint.store import (
    CACHE_DIR,
    StoreError,
    check_stamps,
    digest,
    expect_shape,
    ignored_store,
    is_int,
    is_stamp,
    read_store,
    write_store,
)

RESULTS_FILE = "results.json"


@dataclass
class Entry:
    digest: str
    dependencies: dict[str, tuple[int, int]]
    diagnostics: list
    stamp: tuple[int, int] | None = None  # size and mtime when the digest was taken




# -- checking what was read ------------------------------------------------------------------


_SEVERITIES = {severity.value: severity for severity in Severity}
_APPLICABILITIES = {applicability.value: applicability for applicability in Applicability}


def _check_entry(value) -> Entry:
    expect_shape(isinstance(value, dict) and set(value) == {"digest", "stamp", "dependencies", "diagnostics"}, "an entry")
    expect_shape(isinstance(value["digest"], str), "a digest")
    expect_shape(value["stamp"] is None or is_stamp(value["stamp"]), "a stamp")
    dependencies = check_stamps(value["dependencies"], "dependencies")
    expect_shape(all(stamp is not None for stamp in dependencies.values()), "dependencies")
    expect_shape(isinstance(value["diagnostics"], list), "diagnostics")
    for diagnostic in value["diagnostics"]:
        _check_diagnostic(diagnostic)
    return Entry(value["digest"], dependencies, value["diagnostics"], tuple(value["stamp"]) if value["stamp"] else None)


def _check_diagnostic(value) -> None:
    expect_shape(isinstance(value, list) and len(value) == 6, "a finding")
    code, message, span, severity, fix, related = value
    expect_shape(isinstance(related, list) and all(
        isinstance(r, list) and len(r) == 5 and all(map(is_int, r[:4])) and isinstance(r[4], str) for r in related),
        "a finding's related places")
    expect_shape(isinstance(code, str) and isinstance(message, str) and severity in _SEVERITIES, "a finding")
    expect_shape(isinstance(span, list) and len(span) == 4 and all(map(is_int, span)), "a finding's position")
    if fix is not None:
        expect_shape(isinstance(fix, list) and len(fix) == 3 and fix[0] in _APPLICABILITIES and isinstance(fix[1], str)
                and isinstance(fix[2], list), "a fix")
        for edit in fix[2]:
            expect_shape(isinstance(edit, list) and len(edit) == 5 and all(map(is_int, edit[:4]))
                    and isinstance(edit[4], str), "an edit")


def _dump_diagnostic(diagnostic: Diagnostic) -> list:
    """A codemod fix keeps only its safety and message: fixing or previewing it checks the file again."""
    fix = diagnostic.fix
    dumped_fix = None if fix is None else [fix.applicability.value, fix.message,
                                           [[e.line, e.col, e.end_line, e.end_col, e.content] for e in fix.edits]]
    location = diagnostic.location
    related = [[r.location.line, r.location.col, r.location.end_line, r.location.end_col, r.message]
               for r in diagnostic.related]
    return [diagnostic.code, diagnostic.message, [location.line, location.col, location.end_line, location.end_col],
            diagnostic.severity.value, dumped_fix, related]


def _load_diagnostic(path: str, value: list) -> Diagnostic:
    code, message, span, severity, fix, related = value
    loaded_fix = None if fix is None else Fix(_APPLICABILITIES[fix[0]], fix[1], tuple(Edit(*edit) for edit in fix[2]))
    return Diagnostic(code, message, Location(path, *span), _SEVERITIES[severity], loaded_fix,
                      tuple(Related(Location(path, *r[:4]), r[4]) for r in related))


# -- the cache ------------------------------------------------------------------------------

class ResultCache:
    def __init__(self, root: str, fingerprint: str):
        self.folder = os.path.join(root, CACHE_DIR)
        self.key = f"{__version__}\0{fingerprint}"
        self.entries: dict[str, Entry] = {}
        self.dirty = False
        try:
            self.entries = self._load()
        except StoreError as problem:
            ignored_store(self.folder, RESULTS_FILE, problem)
            self.dirty = True  # rewritten even if this run finds nothing new

    def _load(self) -> dict[str, Entry]:
        entries = read_store(self.folder, RESULTS_FILE, self.key)
        if entries is None:
            return {}
        expect_shape(isinstance(entries, dict), "its entries")
        return {path: _check_entry(entry) for path, entry in entries.items()}

    def lookup(self, path: str) -> FileResult | None:
        """A hit without reading the file: its size and mtime are those its digest was taken at."""
        entry = self.entries.get(os.path.abspath(path))
        if entry is None or entry.stamp is None or file_stamp(path) != entry.stamp:
            return None
        return self._valid(entry, path)

    def get(self, path: str, data: bytes) -> FileResult | None:
        entry = self.entries.get(os.path.abspath(path))
        if entry is None or entry.digest != digest(data):
            return None
        result = self._valid(entry, path)
        if result is not None:
            entry.stamp = file_stamp(path)  # touched but unchanged: next time, stat it only
            self.dirty = True
        return result

    def _valid(self, entry: Entry, path: str) -> FileResult | None:
        if any(file_stamp(dep) != stamp for dep, stamp in entry.dependencies.items()):
            return None
        return FileResult(path, [_load_diagnostic(path, d) for d in entry.diagnostics], [], None,
                          list(entry.dependencies))

    def put(self, path: str, data: bytes, result: FileResult) -> None:
        if result.errors:
            return  # an internal error is never remembered
        stamps = {dep: file_stamp(dep) for dep in result.dependencies}
        if any(stamp is None for stamp in stamps.values()):
            return
        self.entries[os.path.abspath(path)] = Entry(digest(data), stamps, [_dump_diagnostic(d) for d in result.diagnostics],
                                                    file_stamp(path))
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        write_store(self.folder, RESULTS_FILE, self.key, {
            path: {"digest": e.digest, "stamp": list(e.stamp) if e.stamp else None,
                   "dependencies": {dep: list(stamp) for dep, stamp in e.dependencies.items()},
                   "diagnostics": e.diagnostics}
            for path, e in self.entries.items()})


def clean(root: str) -> bool:
    import shutil

    folder = os.path.join(root, CACHE_DIR)
    if os.path.islink(folder):
        os.unlink(folder)  # the link only, never what it points to
        return True
    if not os.path.isdir(folder):
        return False
    shutil.rmtree(folder)
    return True
