"""Checking many files: the cache first, then the rest across a process pool."""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING, Iterator

from tenantlint.config import Config
from tenantlint.results import FileResult

if TYPE_CHECKING:
    from tenantlint.engine import Engine
    from tenantlint.fixing import FixAttempt

    Checked = tuple[FileResult, FixAttempt | None]

_WORKER_ENGINE: "Engine | None" = None
_WORKER_FIXING: bool | None = None  # when fixing, whether unsafe fixes apply too


def tune_gc() -> None:
    """Syntax trees are millions of small objects that are never cyclic garbage: collect rarely."""
    gc.set_threshold(100_000, 50, 100)


def _init_worker(config: Config, files: list[str], fixing: bool | None) -> None:
    """A spawned worker builds its engine; a forked one has inherited the parent's (see `_run`)."""
    global _WORKER_ENGINE, _WORKER_FIXING
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: no worker tracebacks
    tune_gc()
    if _WORKER_ENGINE is None:
        from tenantlint.engine import Engine

        _WORKER_ENGINE = Engine(config, files=files)
    _WORKER_FIXING = fixing


def _check_chunk(chunk: list[str]) -> list[Checked]:
    results = []
    for path in chunk:
        result, attempt = _check_one(_WORKER_ENGINE, path, _WORKER_FIXING)
        if not result.diagnostics:
            result.source = None  # nothing to show: do not send the text back
        results.append((result, attempt))
    return results


def _check_one(engine: Engine, path: str, fixing: bool | None, data: bytes | None = None) -> Checked:
    """The file's findings, and when fixing, the file fixed in memory (where the check ran: in the workers,
    the fixes run in parallel too)."""
    if fixing is not None:
        from tenantlint.fixing import check_and_fix

        return check_and_fix(engine, path, fixing)
    return (engine.check_path(path) if data is None else engine.check_bytes(path, data)), None


def _read(path: str) -> bytes | None:
    from tenantlint.sourcefile import read_file_bytes

    try:
        return read_file_bytes(path)
    except OSError:
        return None


def fingerprint(config: Config, files: list[str]) -> str:
    """What besides a file's bytes decides its findings, read without loading the rules:
    the configuration, where the settings modules are, and tenantlint's own code (so
    that an edited development install never serves results of the code it had before)."""
    from tenantlint.model.settings import looks_like_settings
    from tenantlint.model.settings_location import locate_settings_remembered, search_root
    from tenantlint.store import CACHE_DIR

    patterns = tuple(config.settings_modules)
    roots = sorted({search_root(folder, config) for folder in {os.path.dirname(os.path.abspath(f)) for f in files}})
    memo = os.path.join(config.root, CACHE_DIR)
    located = [locate_settings_remembered(root, patterns, lambda relative: looks_like_settings(relative, patterns), memo)
               for root in roots]
    located = [(place.declarations, place.by_name) for place in located]
    return repr((
        config.select, config.extend_select, config.ignore, config.options, config.per_file_ignores,
        config.settings_modules, config.root, located, _code_stamp(),
    ))


def _code_stamp() -> tuple[int, int]:
    package = os.path.dirname(os.path.abspath(__file__))
    stamps = [os.stat(os.path.join(folder, name)).st_mtime_ns for folder, _, names in os.walk(package)
              for name in names if name.endswith(".py")]  # the rule families' folders included
    return len(stamps), max(stamps, default=0)


def check_files(config: Config, files: list[str], jobs: int, use_cache: bool, engine,
                fixing: bool | None = None) -> Iterator[Checked]:
    """Results for `files` (in no particular order), each with the file fixed in memory when `fixing`
    (True: unsafe fixes too) and some fix applies, else None. `engine()` gives the engine, built only if
    some file is not answered by the cache: a warm run loads no rule at all. A cached result that a fix
    applies to is checked again, to be fixed with the others."""
    from tenantlint.cache import ResultCache

    cache = ResultCache(config.root, fingerprint(config, files)) if use_cache else None
    pending: list[tuple[str, bytes | None]] = []
    if cache is None:  # nothing to look up: the checks read the files themselves
        pending = [(path, None) for path in files]
        files = []
    for path in files:
        cached = cache.lookup(path)
        if cached is not None and not _to_fix(cached, fixing):
            yield cached, None
            continue
        data = _read(path)
        if data is None:
            yield engine().check_path(path), None  # reports the read error
            continue
        cached = cache.get(path, data) if cache else None
        if cached is not None and not _to_fix(cached, fixing):
            yield cached, None
        else:
            pending.append((path, data))
    if pending:
        for (path, data), (result, attempt) in zip(pending, _run(engine(), pending, jobs, fixing)):
            if cache and data is not None and (attempt is None or attempt.original == data):
                cache.put(path, data, result)
            yield result, attempt
    if cache:
        cache.save()


def _to_fix(result: FileResult, fixing: bool | None) -> bool:
    return fixing is not None and any(d.fix_applies(fixing) for d in result.diagnostics)


def _run(engine: Engine, pending: list[tuple[str, bytes | None]], jobs: int, fixing: bool | None) -> Iterator[Checked]:
    if jobs <= 1 or len(pending) < 2 * jobs:
        for path, data in pending:
            yield _check_one(engine, path, fixing, data)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    size = max(1, min(16, len(pending) // (jobs * 4)))
    paths = [path for path, _ in pending]  # workers read the files themselves: no bytes through the pipes
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    from concurrent.futures.process import BrokenProcessPool

    global _WORKER_ENGINE
    if context.get_start_method() == "fork":
        _WORKER_ENGINE = engine  # workers start with it: no second build of the project's index
    done = 0
    try:
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                 initargs=(engine.config, engine.project.files, fixing)) as pool:
            try:
                for results in pool.map(_check_chunk, chunks):
                    done += 1
                    yield from results
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)  # the chunks under way finish, no other starts
                raise
    except BrokenProcessPool:  # a worker died (killed, out of memory): finish in this process
        for chunk in chunks[done:]:
            for path in chunk:
                yield _check_one(engine, path, fixing)
    finally:
        _WORKER_ENGINE = None
