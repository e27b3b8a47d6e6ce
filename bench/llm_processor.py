"""PROCESSOR_FACTORY for the benchmark: the OpenAI LLM processor, with offline topic labels.

Built through ``PROCESSOR_FACTORY`` so that only per-post processing talks to
the (loopback) provider; topicize stays offline and the run time measures the
per-post path.
"""

from __future__ import annotations

from tg_parser.config import Settings
from tg_parser.llm import build_processor
from tg_parser.processing.base import Processor


def build(settings: Settings) -> Processor:
    """Return the OpenAI processor configured from the environment (``OPENAI_BASE_URL``, ``LLM_MODEL``)."""
    llm = settings.llm.model_copy(update={"llm_provider": "openai"})
    return build_processor(llm, redis_url=settings.redis_url)
