"""Checking many files: the cache first, then the rest across a process pool."""

from __future__ import annotations

import gc
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator

from tenantlint.config import Config
from tenantlint.engine import Engine, FileResult

_WORKER_ENGINE: Engine | None = None


def tune_gc() -> None:
    """Syntax trees are millions of small objects that are never cyclic garbage: collect rarely."""
    gc.set_threshold(100_000, 50, 100)


def _init_worker(config: Config, files: list[str]) -> None:
    global _WORKER_ENGINE
    tune_gc()
    _WORKER_ENGINE = Engine(config, files=files)


def _check_chunk(chunk: list[tuple[str, bytes]]) -> list[FileResult]:
    results = []
    for path, data in chunk:
        result = _WORKER_ENGINE.check_bytes(path, data)
        if not result.diagnostics:
            result.source = None  # nothing to show: do not send the text back
        results.append(result)
    return results


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def fingerprint(config: Config, engine: Engine) -> str:
    """What besides a file's bytes decides its findings (tenantlint's own code included, so that an
    edited development install never serves results of the code it had before)."""
    return repr((
        sorted(engine.enabled), config.options, config.per_file_ignores, config.settings_modules, config.root,
        sorted(engine.settings.candidates), _code_stamp(),
    ))


def _code_stamp() -> tuple[int, int]:
    package = os.path.dirname(os.path.abspath(__file__))
    stamps = [entry.stat().st_mtime_ns for folder in (package, os.path.join(package, "rules"), os.path.join(package, "report"))
              for entry in os.scandir(folder) if entry.name.endswith(".py")]
    return len(stamps), max(stamps, default=0)


def check_files(engine: Engine, files: list[str], jobs: int, use_cache: bool) -> Iterator[FileResult]:
    """Results for `files` (in no particular order); `engine` serves the cache key and single-process runs."""
    from tenantlint.cache import ResultCache

    cache = ResultCache(engine.config.root, fingerprint(engine.config, engine)) if use_cache else None
    pending: list[tuple[str, bytes]] = []
    for path in files:
        data = _read(path)
        if data is None:
            yield engine.check_path(path)  # reports the read error
            continue
        cached = cache.get(path, data) if cache else None
        if cached is not None:
            yield cached
        else:
            pending.append((path, data))
    for (path, data), result in zip(pending, _run(engine, pending, jobs)):
        if cache:
            cache.put(path, data, result)
        yield result
    if cache:
        cache.save()


def _run(engine: Engine, pending: list[tuple[str, bytes]], jobs: int) -> Iterator[FileResult]:
    if jobs <= 1 or len(pending) < 2 * jobs:
        for path, data in pending:
            yield engine.check_bytes(path, data)
        return
    import multiprocessing

    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    size = max(1, min(64, len(pending) // (jobs * 4)))
    chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                             initargs=(engine.config, engine.project.files)) as pool:
        for results in pool.map(_check_chunk, chunks):
            yield from results
