"""The LLM provider layer: one provider protocol, four SDK-backed providers.

Public surface:

* :func:`build_processor` → the configured :class:`~tg_parser.processing.base.Processor`
  (offline or :class:`LLMProcessor`).
* :class:`LLMSettings`: the ``LLM_*`` variables (``get_settings().llm``);
  :func:`load_llm_settings` builds it alone.
* :func:`build_provider`, :class:`LLMProvider`: OpenAI, Anthropic, Gemini, Ollama.
* :func:`build_runtime` / :class:`LLMRuntime`, :func:`label_topic`, :func:`embed_texts`: topics.
* :func:`build_rate_limiter`, :class:`RedisRateLimiter`, :class:`LocalRateLimiter`.
* :func:`load_prices`, :func:`estimate_cost_usd`; :func:`capabilities`; :data:`PROMPT_VERSION`.

Importing this package imports no provider SDK; :func:`build_provider` imports
the one it needs.
"""

from tg_parser.config.llm import LLMSettings, load_llm_settings
from tg_parser.llm.capabilities import ModelCapabilities, capabilities
from tg_parser.llm.factory import LLMRuntime, build_provider, build_runtime
from tg_parser.llm.failures import error_for_status, parse_retry_after
from tg_parser.llm.pricing import ModelPrice, PriceTable, estimate_cost_usd, load_prices
from tg_parser.llm.processor import LLMProcessor, build_processor
from tg_parser.llm.prompts import PROMPT_VERSION, TOPIC_PROMPT_VERSION
from tg_parser.llm.provider import ChatTurn, EmbeddingReply, LLMProvider, StructuredReply
from tg_parser.llm.ratelimit import (
    Bucket,
    Grant,
    LocalRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    buckets_for,
    build_rate_limiter,
)
from tg_parser.llm.schema import strict_json_schema
from tg_parser.llm.structured import LLMOutputError, ask_structured
from tg_parser.llm.topics import TopicLabel, embed_texts, label_topic

__all__ = [
    "PROMPT_VERSION",
    "TOPIC_PROMPT_VERSION",
    "Bucket",
    "ChatTurn",
    "EmbeddingReply",
    "Grant",
    "LLMOutputError",
    "LLMProcessor",
    "LLMProvider",
    "LLMRuntime",
    "LLMSettings",
    "LocalRateLimiter",
    "ModelCapabilities",
    "ModelPrice",
    "PriceTable",
    "RateLimiter",
    "RedisRateLimiter",
    "StructuredReply",
    "TopicLabel",
    "ask_structured",
    "buckets_for",
    "build_processor",
    "build_provider",
    "build_rate_limiter",
    "build_runtime",
    "capabilities",
    "embed_texts",
    "error_for_status",
    "estimate_cost_usd",
    "label_topic",
    "load_llm_settings",
    "load_prices",
    "parse_retry_after",
    "strict_json_schema",
]
