"""Choose the processor from settings (``LLM_PROVIDER``), once per process."""

from __future__ import annotations

import threading

from tg_parser.config import Settings
from tg_parser.processing.base import Processor

_lock = threading.Lock()
_cache: dict[tuple[str, str | None], Processor] = {}


def get_processor(settings: Settings) -> Processor:
    """Return the process-wide processor for ``LLM_PROVIDER``/``LLM_MODEL``.

    ``offline`` (the default) needs nothing; the LLM providers are built by
    :func:`tg_parser.llm.build_processor` when that layer is installed.

    Raises:
        ConfigurationError: The provider is unknown or misconfigured.
    """
    key = (settings.llm_provider, settings.llm_model)
    with _lock:
        proc = _cache.get(key)
        if proc is None:
            proc = _build(settings)
            _cache[key] = proc
        return proc


def _build(settings: Settings) -> Processor:
    if settings.llm_provider == "offline":
        from tg_parser.processing.offline import OfflineProcessor  # noqa: PLC0415

        return OfflineProcessor()
    from tg_parser.llm import build_processor  # noqa: PLC0415

    return build_processor(settings)
