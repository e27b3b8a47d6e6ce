"""Choose the processor from settings (``LLM_PROVIDER``), once per process."""

from __future__ import annotations

import importlib
import threading

from tg_parser.config import Settings
from tg_parser.errors import ConfigurationError
from tg_parser.processing.base import Processor

_lock = threading.Lock()
_cache: dict[tuple[str, str | None], Processor] = {}


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
    key = (settings.processor_factory or settings.llm.llm_provider, settings.llm.llm_model)
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

        return OfflineProcessor()
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
