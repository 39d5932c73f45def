"""Data tenantlint keeps between runs in a checked project's `.tenantlint_cache/`, read as data only.

The folder sits in the project being checked, so whoever wrote the project may have written it: a
store holds JSON only (never pickle), signed with a key kept in the user's own cache folder (never in
the project); a file that is not exactly what this user's tenantlint wrote is refused (StoreError),
and whoever reads it ignores it with one line on stderr and rebuilds it. Nothing in the folder is
followed through a symbolic link, read when it is not a regular file, or read past `MAX_STORE_BYTES`;
without a place for the key, nothing is kept.
"""

from __future__ import annotations

import os
import stat
import sys

CACHE_DIR = ".tenantlint_cache"
FORMAT = 2  # 2: findings carry their related places
MAX_STORE_BYTES = 256 * 1024 * 1024
_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by tenantlint.\n"
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


class StoreError(ValueError):
    """A cache file that tenantlint did not write as it is: ignored and rebuilt."""


def _blake2b():
    """hashlib's blake2b, without the import of hashlib, which loads OpenSSL (a few ms of a warm run)."""
    try:
        from _blake2 import blake2b
    except ImportError:  # not CPython
        from hashlib import blake2b
    return blake2b


def digest(data: bytes) -> str:
    return _blake2b()(data, digest_size=16).hexdigest()


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
    expect_shape(isinstance(stored, dict) and set(stored) == {"tool", "format", "key", "data"}
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


def expect_shape(condition: bool, what: str) -> None:
    if not condition:
        raise StoreError(f"not a tenantlint cache ({what})")


def is_int(value) -> bool:
    return type(value) is int


def is_stamp(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(map(is_int, value))


def check_stamps(value, what: str) -> dict[str, tuple[int, int] | None]:
    """A mapping of paths to [size, mtime] or null, as the cache and the discovery memo keep them."""
    expect_shape(isinstance(value, dict), what)
    for path, stamp in value.items():
        expect_shape(stamp is None or is_stamp(stamp), what)
    return {path: tuple(stamp) if stamp else None for path, stamp in value.items()}
