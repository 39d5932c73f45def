"""The result cache in `.tenantlint_cache/`: one entry per file, keyed by its content.

An entry is reused only when the file's bytes hash the same, every file the
result depended on (base classes in other modules, settings modules) still has
the size and modification time it had, and tenantlint's version, the
configuration and the set of settings modules are the same (the cache's key;
another key starts the cache afresh).

The folder sits in the project being checked, so whoever wrote the project may
have written it: it holds JSON only (never pickle), every value is checked for
its type before use, and a file that is not exactly what tenantlint writes is
ignored with one line on stderr and rebuilt. Each file is signed with a key kept
in the user's own cache folder (never in the project): a cache committed to a
repository, which could claim that a file has no findings or hide files from the
walk, is not this user's and is never believed. Nothing in the folder is followed
through a symbolic link, read when it is not a regular file, or read past
`MAX_STORE_BYTES`; without a place for the key, no cache is used.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass

from tenantlint import __version__
from tenantlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location, Related, Severity
from tenantlint.sourcefile import file_stamp
from tenantlint.results import FileResult

CACHE_DIR = ".tenantlint_cache"
RESULTS_FILE = "results.json"
FORMAT = 2  # 2: findings carry their related places
MAX_STORE_BYTES = 256 * 1024 * 1024
_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by tenantlint.\n"
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


class StoreError(ValueError):
    """A cache file that tenantlint did not write as it is: ignored and rebuilt."""


@dataclass
class Entry:
    digest: str
    dependencies: dict[str, tuple[int, int]]
    diagnostics: list
    stamp: tuple[int, int] | None = None  # size and mtime when the digest was taken


def _blake2b():
    """hashlib's blake2b, without the import of hashlib, which loads OpenSSL (a few ms of a warm run)."""
    try:
        from _blake2 import blake2b
    except ImportError:  # not CPython
        from hashlib import blake2b
    return blake2b


def digest(data: bytes) -> str:
    return _blake2b()(data, digest_size=16).hexdigest()


# -- reading and writing a data file of the cache folder, safely --------------------------------

def _usable_folder(folder: str) -> bool:
    """A cache folder that is a symbolic link would send tenantlint's writes elsewhere: never used."""
    return not os.path.islink(folder)


def _signing_key() -> bytes | None:
    """This user's key for the cache's signatures, made on first use (None: nowhere to keep one)."""
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(home, "tenantlint", "cache-key")
    try:
        fd = os.open(path, os.O_RDONLY | _NO_FOLLOW)
    except FileNotFoundError:
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(32))
        except FileExistsError:
            pass  # another run made it meanwhile
        except OSError:
            return None
        return _signing_key()
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        key = handle.read(64)
    return key if len(key) == 32 else None


def _signature(key: bytes, payload: bytes) -> bytes:
    return _blake2b()(payload, key=key, digest_size=32).hexdigest().encode("ascii")


def read_store(folder: str, name: str, version_key):
    """The data kept in `folder/name` under `version_key` (tenantlint's version and what else decides
    the data), or None when there is none, it was kept under another key, or there is no signing key
    to check it with; StoreError when the file is there but is not a regular file, is too large, is
    not signed by this user's tenantlint or is not a tenantlint store."""
    import json

    path = os.path.join(folder, name)
    if not _usable_folder(folder):
        raise StoreError(f"{folder} is a symbolic link")
    key = _signing_key()
    if key is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | _NO_FOLLOW | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StoreError(f"cannot be opened ({error.strerror})") from None
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        raise StoreError("it is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        if status.st_size > MAX_STORE_BYTES:
            raise StoreError(f"it is larger than {MAX_STORE_BYTES // (1024 * 1024)} MB")
        data = handle.read(MAX_STORE_BYTES + 1)
    signature, _, payload = data.partition(b"\n")
    # a plain comparison: whoever wrote the file learns nothing from how long one comparison takes
    if signature != _signature(key, payload):
        raise StoreError("it was not written by tenantlint for this user (a cache from another machine, "
                         "user or repository is never trusted)")
    try:
        stored = json.loads(payload)
    except (ValueError, RecursionError) as error:
        raise StoreError(f"it is not JSON ({str(error).splitlines()[0] if str(error) else type(error).__name__})") from None
    _expect(isinstance(stored, dict) and set(stored) == {"tool", "format", "key", "data"}
            and stored["tool"] == "tenantlint", "its header")
    # another version or layout: start afresh
    return stored["data"] if stored["key"] == version_key and stored["format"] == FORMAT else None


def write_store(folder: str, name: str, version_key, data) -> None:
    """Keep `data` as JSON in `folder/name` under `version_key`, atomically (a temporary file, then a
    rename); a cache that cannot be written is only a slower next run, so failures are silent."""
    import json
    import tempfile

    key = _signing_key()
    try:
        if key is None or not _usable_folder(folder):
            return
        stored = {"tool": "tenantlint", "format": FORMAT, "key": version_key, "data": data}
        payload = json.dumps(stored, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        os.makedirs(folder, exist_ok=True)
        _create_once(os.path.join(folder, "CACHEDIR.TAG"), _TAG)
        _create_once(os.path.join(folder, ".gitignore"), "*\n")
        fd, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_signature(key, payload) + b"\n" + payload)
            os.replace(temporary, os.path.join(folder, name))  # replaces a link itself, never its target
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
    except OSError:
        pass


def _create_once(path: str, content: str) -> None:
    """Create a small marker file unless something (even a dangling link) is there already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(content)


def ignored_store(folder: str, name: str, problem: StoreError) -> None:
    print(f"tenantlint: ignoring {os.path.join(folder, name)}: {problem}; it will be rebuilt", file=sys.stderr)


# -- checking what was read ------------------------------------------------------------------

def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise StoreError(f"not a tenantlint cache ({what})")


def _is_int(value) -> bool:
    return type(value) is int


def _is_stamp(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(map(_is_int, value))


def check_stamps(value, what: str) -> dict[str, tuple[int, int] | None]:
    """A mapping of paths to [size, mtime] or null, as the cache and the discovery memo keep them."""
    _expect(isinstance(value, dict), what)
    for path, stamp in value.items():
        _expect(stamp is None or _is_stamp(stamp), what)
    return {path: tuple(stamp) if stamp else None for path, stamp in value.items()}


_SEVERITIES = {severity.value: severity for severity in Severity}
_APPLICABILITIES = {applicability.value: applicability for applicability in Applicability}


def _check_entry(value) -> Entry:
    _expect(isinstance(value, dict) and set(value) == {"digest", "stamp", "dependencies", "diagnostics"}, "an entry")
    _expect(isinstance(value["digest"], str), "a digest")
    _expect(value["stamp"] is None or _is_stamp(value["stamp"]), "a stamp")
    dependencies = check_stamps(value["dependencies"], "dependencies")
    _expect(all(stamp is not None for stamp in dependencies.values()), "dependencies")
    _expect(isinstance(value["diagnostics"], list), "diagnostics")
    for diagnostic in value["diagnostics"]:
        _check_diagnostic(diagnostic)
    return Entry(value["digest"], dependencies, value["diagnostics"], tuple(value["stamp"]) if value["stamp"] else None)


def _check_diagnostic(value) -> None:
    _expect(isinstance(value, list) and len(value) == 6, "a finding")
    code, message, span, severity, fix, related = value
    _expect(isinstance(related, list) and all(
        isinstance(r, list) and len(r) == 5 and all(map(_is_int, r[:4])) and isinstance(r[4], str) for r in related),
        "a finding's related places")
    _expect(isinstance(code, str) and isinstance(message, str) and severity in _SEVERITIES, "a finding")
    _expect(isinstance(span, list) and len(span) == 4 and all(map(_is_int, span)), "a finding's position")
    if fix is not None:
        _expect(isinstance(fix, list) and len(fix) == 3 and fix[0] in _APPLICABILITIES and isinstance(fix[1], str)
                and isinstance(fix[2], list), "a fix")
        for edit in fix[2]:
            _expect(isinstance(edit, list) and len(edit) == 5 and all(map(_is_int, edit[:4]))
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
        _expect(isinstance(entries, dict), "its entries")
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
