"""Building a provider (and a topic runtime) from settings; the chosen SDK is imported only then."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tg_parser.errors import ConfigurationError
from tg_parser.llm.pricing import PriceTable, load_prices
from tg_parser.llm.ratelimit import RateLimiter, build_rate_limiter
from tg_parser.llm.topics import TopicLabel, embed_texts, label_topic

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tg_parser.config.llm import LLMSettings
    from tg_parser.llm.provider import LLMProvider
    from tg_parser.processing.base import LLMUsage


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter is not None else None


def build_provider(settings: LLMSettings) -> LLMProvider:
    """Build the provider named by ``LLM_PROVIDER`` with ``LLM_MODEL``.

    Args:
        settings: LLM settings.

    Returns:
        An :class:`~tg_parser.llm.provider.LLMProvider`.

    Raises:
        ConfigurationError: ``LLM_PROVIDER=offline`` (no provider to build) or the
            client cannot be built (no API key).

    """
    common = {
        "model": settings.model,
        "embedding_model": settings.embedding_model,
        "timeout_s": settings.llm_timeout_s,
        "temperature": settings.llm_temperature,
        "max_output_tokens": settings.llm_max_output_tokens,
    }
    name = settings.llm_provider
    if name == "openai":
        from tg_parser.llm.openai import OpenAIProvider

        return OpenAIProvider(
            **common,  # type: ignore[arg-type]
            reasoning_effort=settings.llm_reasoning_effort,
            verbosity=settings.llm_verbosity,
            api_key=_secret(settings.openai_api_key),
            base_url=settings.openai_base_url,
        )
    if name == "anthropic":
        from tg_parser.llm.anthropic import AnthropicProvider

        return AnthropicProvider(
            **common,  # type: ignore[arg-type]
            api_key=_secret(settings.anthropic_api_key),
            base_url=settings.anthropic_base_url,
        )
    if name == "gemini":
        from tg_parser.llm.gemini import GeminiProvider

        return GeminiProvider(
            **common,  # type: ignore[arg-type]
            api_key=_secret(settings.gemini_api_key),
            base_url=settings.gemini_base_url,
        )
    if name == "ollama":
        from tg_parser.llm.ollama import OllamaProvider

        return OllamaProvider(**common, host=settings.ollama_host)  # type: ignore[arg-type]
    msg = f"LLM_PROVIDER={name!r} has no LLM provider to build"
    raise ConfigurationError(msg)


@dataclass(frozen=True)
class LLMRuntime:
    """A provider with its rate limiter, prices and settings, for topic labels and embeddings.

    Attributes:
        provider: The provider.
        limiter: Its rate limiter.
        prices: The price table.
        settings: The settings it was built from.

    """

    provider: LLMProvider
    limiter: RateLimiter
    prices: PriceTable
    settings: LLMSettings

    def label_topic(
        self, *, keywords: Sequence[str], sample_posts: Sequence[str]
    ) -> tuple[TopicLabel, tuple[LLMUsage, ...]]:
        """Label a topic. See :func:`tg_parser.llm.topics.label_topic`."""
        return label_topic(
            provider=self.provider,
            limiter=self.limiter,
            prices=self.prices,
            keywords=keywords,
            sample_posts=sample_posts,
            output_language_setting=self.settings.llm_output_language,
            max_reasks=self.settings.llm_max_reasks,
        )

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], tuple[LLMUsage, ...]]:
        """Embed texts. See :func:`tg_parser.llm.topics.embed_texts`."""
        return embed_texts(provider=self.provider, limiter=self.limiter, prices=self.prices, texts=texts)


def build_runtime(settings: LLMSettings, *, redis_url: str | None) -> LLMRuntime | None:
    """Build the LLM runtime of the settings, or ``None`` for ``LLM_PROVIDER=offline``.

    Args:
        settings: LLM settings (``get_settings().llm``).
        redis_url: The application's Redis for the shared rate limiter
            (``get_settings().redis_url``); see
            :func:`~tg_parser.llm.ratelimit.build_rate_limiter`.

    Returns:
        The runtime, or ``None`` when the offline path is configured.

    Raises:
        ConfigurationError: No API key, or an unreadable price file.

    """
    if settings.llm_provider == "offline":
        return None
    provider = build_provider(settings)
    return LLMRuntime(
        provider=provider,
        limiter=build_rate_limiter(settings, provider=provider.name, redis_url=redis_url),
        prices=load_prices(settings.llm_prices_file),
        settings=settings,
    )
