"""Choose the processor from settings (``LLM_PROVIDER``), once per process; and how many run at once.

Embedded mode processes :func:`process_concurrency` posts at once. A provider
waits on the network, so threads are enough; the offline processor is
CPU-bound Python, so :class:`ProcessPoolProcessor` hands each post's
:meth:`~tg_parser.processing.base.Processor.process` to a pool of worker
processes (one per core) while the step around it (database, retries, dead
letters) stays in the calling thread.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import pickle
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Literal

from tg_parser.config import Settings
from tg_parser.domain import Message
from tg_parser.errors import ConfigurationError, PermanentError, RetryableError
from tg_parser.processing.base import ProcessingResult, Processor
from tg_parser.services.process_batch import BatchOutcome, process_batch

DEFAULT_NETWORK_CONCURRENCY = 8
"""Posts in flight at once for a provider (or ``PROCESSOR_FACTORY``) when ``PROCESS_CONCURRENCY`` is unset."""

_lock = threading.Lock()
_cache: dict[tuple[str, str | None, bool], Processor] = {}


def _from_factory(settings: Settings) -> Processor:
    """Build a custom processor from ``PROCESSOR_FACTORY=package.module:callable``.

    The callable receives the settings and returns a :class:`Processor`; it
    wins over ``LLM_PROVIDER`` (a plug-in point for your own extractor).

    Raises:
        ConfigurationError: The path does not name an importable callable.
    """
    spec = settings.processor_factory or ""
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        msg = f"PROCESSOR_FACTORY={spec!r} does not name an importable callable (module:callable)"
        raise ConfigurationError(msg) from exc
    proc = factory(settings)
    if not isinstance(proc, Processor):
        msg = f"PROCESSOR_FACTORY={spec!r} returned {type(proc).__name__}, not a Processor"
        raise ConfigurationError(msg)
    return proc


def get_processor(settings: Settings) -> Processor:
    """Return the process-wide processor for ``LLM_PROVIDER``/``LLM_MODEL``.

    ``offline`` (the default) needs nothing; the LLM providers are built by
    :func:`tg_parser.llm.build_processor` when that layer is installed.

    Raises:
        ConfigurationError: The provider is unknown or misconfigured.
    """
    llm = settings.llm
    key = (settings.processor_factory or llm.llm_provider, llm.llm_model, llm.offline_ner)
    with _lock:
        proc = _cache.get(key)
        if proc is None:
            proc = _build(settings)
            _cache[key] = proc
        return proc


def _build(settings: Settings) -> Processor:
    if settings.processor_factory:
        return _from_factory(settings)
    if settings.llm.llm_provider == "offline":
        from tg_parser.processing.offline import OfflineProcessor

        return OfflineProcessor(named_entities=settings.llm.offline_ner)
    from tg_parser.llm import build_processor

    return build_processor(settings.llm, redis_url=settings.redis_url)


def warm_up(settings: Settings) -> None:
    """Build the processor and load what its first post would load (language model, schemas).

    Called once per worker process at start, so the first post of a run does
    not pay seconds of model loading; it makes no provider call.
    """
    from tg_parser.domain import PostAnalysis
    from tg_parser.processing.language import detect_language

    processor = get_processor(settings)
    detect_language("Прогрев модели определения языка. Warming up the language model.")
    if processor.name != "offline":
        import py3langid

        from tg_parser.llm.schema import strict_json_schema

        py3langid.classify("Прогрев модели. Warming up the model.")
        strict_json_schema(PostAnalysis)
        if processor.name == "openai":
            # The SDK builds its pydantic response validators on first use.
            from openai.types.chat import ChatCompletion
            from openai.types.responses import Response

            for model in (Response, ChatCompletion):
                model.model_rebuild(force=True)


def usable_cores() -> int:
    """Return the number of cores this process may run on (its CPU affinity, where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def process_pool_kind(settings: Settings) -> Literal["process", "thread"]:
    """Return how embedded mode runs posts side by side.

    ``process`` for the built-in offline processor (CPU-bound Python: one
    process per core escapes the GIL); ``thread`` for a provider or a custom
    processor (they wait on the network, and the rate limiter is in-process).
    """
    if settings.llm.llm_provider == "offline" and not settings.processor_factory:
        return "process"
    return "thread"


def process_concurrency(settings: Settings) -> int:
    """Return how many posts embedded mode processes at once.

    ``PROCESS_CONCURRENCY`` when set; otherwise the usable core count for the
    offline processor and :data:`DEFAULT_NETWORK_CONCURRENCY` for the rest.
    ``1`` means the sequential path.
    """
    if settings.process_concurrency is not None:
        return settings.process_concurrency
    if process_pool_kind(settings) == "process":
        return usable_cores()
    return DEFAULT_NETWORK_CONCURRENCY


_worker_processor: Processor | None = None
_worker_settings: Settings | None = None


def _init_worker(settings: Settings) -> None:
    """Build the processor of a pool worker and load its models before the first post."""
    global _worker_processor, _worker_settings  # noqa: PLW0603 - one per worker process, set once at its start
    warm_up(settings)
    _worker_processor = get_processor(settings)
    _worker_settings = settings


def _process_in_worker(message: Message) -> ProcessingResult:
    """Process one post in a pool worker (see :func:`_init_worker`)."""
    if _worker_processor is None:  # pragma: no cover - the initializer always runs first
        msg = "pool worker started without its processor"
        raise RuntimeError(msg)
    return _worker_processor.process(message)


def _process_batch_in_worker(run_id: str | None, message_pks: list[int]) -> BatchOutcome:
    """Process a batch of posts in a pool worker, database work included (see :func:`process_batch`)."""
    if _worker_processor is None or _worker_settings is None:  # pragma: no cover - the initializer runs first
        msg = "pool worker started without its processor"
        raise RuntimeError(msg)
    outcome = process_batch(
        settings=_worker_settings, run_id=run_id, message_pks=message_pks, processor=_worker_processor
    )
    for pk, error in list(outcome.errors.items()):
        try:
            pickle.dumps(error)
        except Exception:  # noqa: BLE001 - any error that cannot cross back is named instead
            outcome.errors[pk] = PermanentError(f"{type(error).__name__}: {error}")
    return outcome


def _start_method() -> str:
    """``fork`` where the OS has it (the workers start at once, models loaded), else ``spawn``."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _ready() -> None:
    """Nothing: submitted to start a worker (its initializer loads the models)."""


class ProcessPoolProcessor:
    """A processor that runs the configured one in worker processes, one post per call.

    Each :meth:`process` call blocks its thread until a worker answers, so
    callers get concurrency by calling from several threads (embedded mode's
    dispatcher does). Workers start at :meth:`start` (or the first post) and
    stop at :meth:`close`; a later :meth:`start` starts them again. They are
    forked where the OS can (inheriting the loaded language model, so they are
    ready at once; database engines are dropped in the child by
    :mod:`tg_parser.storage.session`), else spawned.
    Satisfies :class:`~tg_parser.processing.base.Processor`, with the name,
    model and prompt version of the processor it runs.

    Args:
        settings: Settings (the workers build their processor from them).
        workers: Number of worker processes.
    """

    def __init__(self, settings: Settings, *, workers: int) -> None:
        """Describe the processor; no process starts before the first post."""
        inner = get_processor(settings)
        self.name: str = inner.name
        self.model: str = inner.model
        self.prompt_version: str = inner.prompt_version
        self._settings = settings
        self._workers = workers
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context(_start_method())
                if context.get_start_method() == "fork":
                    # The workers inherit the loaded models instead of loading them again.
                    warm_up(self._settings)
                self._pool = ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=context,
                    initializer=_init_worker,
                    initargs=(self._settings,),
                )
            return self._pool

    def start(self) -> None:
        """Start the worker processes now (before any thread of the caller's starts); idempotent.

        With ``fork`` every worker is forked at the pool's first submission
        (``concurrent.futures`` forks them all at once, before its manager
        thread), so starting here, from a caller that has not yet started its
        own threads, forks a process with one thread: what ``fork`` needs to be safe.
        """
        with self._lock:
            started = self._pool is not None
        if not started:
            self._executor().submit(_ready)

    def process(self, message: Message) -> ProcessingResult:
        """Process one post in a worker process; see :meth:`Processor.process`.

        Raises:
            RetryableError: A worker process died (the pool is rebuilt; the
                step runner retries the post).
            PermanentError: From the processor.
        """
        pool = self._executor()
        try:
            return pool.submit(_process_in_worker, message).result()
        except BrokenProcessPool as exc:
            self._drop(pool)
            msg = f"offline worker process died: {exc}"
            raise RetryableError(msg) from exc

    def process_batch(self, *, run_id: str | None, message_pks: Sequence[int]) -> BatchOutcome:
        """Process a batch of posts in one worker process, loading and writing them there.

        See :func:`~tg_parser.services.process_batch.process_batch`: the worker
        reads the posts, processes them and writes their documents and run
        items itself, so the caller's process does no per-post work.

        Returns:
            The batch's outcome; when a worker process died (the pool is
            rebuilt) or the outcome could not come back, every post of the
            batch is in ``errors`` (a :class:`RetryableError` for a dead
            worker), for the caller to retry one by one.
        """
        pool = self._executor()
        try:
            return pool.submit(_process_batch_in_worker, run_id, list(message_pks)).result()
        except BrokenProcessPool as exc:
            self._drop(pool)
            error: BaseException = RetryableError(f"offline worker process died: {exc}")
        except Exception as exc:  # noqa: BLE001 - e.g. an outcome that did not unpickle; the posts go on alone
            error = exc
        return BatchOutcome(channel_key=None, errors=dict.fromkeys(message_pks, error))

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        """Forget a broken pool (the next post starts a new one)."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the worker processes (after the posts in flight)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
