"""Settings of the LLM provider layer (pydantic-settings, ``LLM_*`` variables).

The application reads them as ``get_settings().llm``, the ``llm`` branch of the
one settings tree of :mod:`tg_parser.config`; the class lives here, next to the
layer it configures. Nothing is read at import time; tests build it alone with
:func:`load_llm_settings`. Provider SDKs read their own standard variables too (``OPENAI_API_KEY``,
``OPENAI_BASE_URL``, ``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``,
``GEMINI_API_KEY``/``GOOGLE_API_KEY``, ``GOOGLE_GEMINI_BASE_URL``,
``OLLAMA_HOST``); the fields below mirror them so they can also come from
``.env``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ProviderName = Literal["offline", "openai", "anthropic", "gemini", "ollama"]

DEFAULT_MODELS: dict[str, str] = {
    "openai": "gpt-5-mini",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
    "ollama": "llama3.1",
}
"""Model used when ``LLM_MODEL`` is unset, per provider."""

DEFAULT_EMBEDDING_MODELS: dict[str, str] = {
    "openai": "text-embedding-3-small",
    "gemini": "gemini-embedding-001",
    "ollama": "nomic-embed-text",
}
"""Embedding model used when ``LLM_EMBEDDING_MODEL`` is unset (Anthropic has no embeddings API)."""


class LLMSettings(BaseSettings):
    """Settings of the LLM layer. Field names map to upper-case variables.

    Attributes:
        llm_provider: ``offline`` (default) | ``openai`` | ``anthropic`` | ``gemini`` | ``ollama``.
        offline_ner: The offline processor adds people, places and organisations of
            Russian posts (slovnet NER, weights in natasha's wheel); off by default
            because it is slower than the rest of offline processing together.
        llm_model: Model name; ``None`` picks :data:`DEFAULT_MODELS` of the provider.
        llm_timeout_s: Timeout of one provider call in seconds.
        llm_temperature: Sampling temperature, sent only to models that accept it.
        llm_reasoning_effort: ``reasoning.effort`` for reasoning models (OpenAI gpt-5*, o-series).
        llm_verbosity: ``text.verbosity`` for OpenAI gpt-5*.
        llm_max_output_tokens: Cap on output tokens of one answer.
        llm_max_reasks: How many times an invalid answer is asked again before giving up.
        llm_output_language: ``auto`` (the post's language) or an ISO 639-1 code.
        llm_prices_file: Path of a JSON price table replacing the packaged one.
        llm_embedding_model: Embedding model; ``None`` picks :data:`DEFAULT_EMBEDDING_MODELS`.
        llm_batch: ``off`` | ``on`` | ``auto``: whether a run's posts go through the provider's
            batch API (half price, results within 24 h). ``auto`` uses it when a run has more
            than ``llm_batch_min_posts`` posts to process. Providers without a batch API
            (Ollama) always stay synchronous.
        llm_batch_min_posts: Posts above which ``auto`` uses the batch API.
        llm_batch_poll_s: Seconds between two polls of a batch's status.
        llm_rpm: Requests per minute allowed per provider across all workers (0 = unlimited).
        llm_tpm: Tokens per minute allowed per provider across all workers (0 = unlimited).
        llm_rate_limit_burst: Requests that may go at once before spacing starts.
        llm_rate_limit_max_wait_s: Longest wait for the limiter before ``RetryableError``.
        llm_rate_limit_redis_url: Redis of the shared limiter, overriding the application's
            ``settings.redis_url`` (given to :func:`~tg_parser.llm.ratelimit.build_rate_limiter`).
        llm_rate_limit_prefix: Key prefix of the limiter in Redis.
        openai_api_key, anthropic_api_key, gemini_api_key: Secrets (``GOOGLE_API_KEY`` works too).
        openai_base_url, anthropic_base_url, gemini_base_url, ollama_host: Endpoint overrides.

    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    llm_provider: ProviderName = "offline"
    offline_ner: bool = False
    llm_model: str | None = None
    llm_timeout_s: float = Field(60.0, gt=0, le=600)
    llm_temperature: float = Field(0.2, ge=0, le=2)
    llm_reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] = "low"
    llm_verbosity: Literal["low", "medium", "high"] = "low"
    llm_max_output_tokens: int = Field(2048, ge=64, le=65536)
    llm_max_reasks: int = Field(2, ge=0, le=5)
    llm_output_language: str = Field("auto", pattern=r"^(auto|[a-z]{2,3})$")
    llm_prices_file: str | None = None
    llm_embedding_model: str | None = None
    llm_batch: Literal["off", "on", "auto"] = "auto"
    llm_batch_min_posts: int = Field(500, ge=0)
    llm_batch_poll_s: float = Field(30.0, gt=0, le=3600)

    llm_rpm: int = Field(0, ge=0)
    llm_tpm: int = Field(0, ge=0)
    llm_rate_limit_burst: int = Field(1, ge=1)
    llm_rate_limit_max_wait_s: float = Field(30.0, ge=0, le=600)
    llm_rate_limit_redis_url: str | None = None
    llm_rate_limit_prefix: str = "tg_parser:llm:rl"

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    gemini_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("gemini_api_key", "google_api_key")
    )
    gemini_base_url: str | None = Field(
        None, validation_alias=AliasChoices("gemini_base_url", "google_gemini_base_url")
    )
    ollama_host: str | None = None

    @property
    def model(self) -> str:
        """The model to call: ``LLM_MODEL`` or the provider's default (``offline`` for offline)."""
        if self.llm_model:
            return self.llm_model
        return DEFAULT_MODELS.get(self.llm_provider, "offline")

    @property
    def embedding_model(self) -> str | None:
        """``LLM_EMBEDDING_MODEL`` or the provider's default; ``None`` when it has none."""
        return self.llm_embedding_model or DEFAULT_EMBEDDING_MODELS.get(self.llm_provider)

    @property
    def can_embed(self) -> bool:
        """Whether the provider has an embeddings API and an embedding model (not offline, not Anthropic)."""
        return self.llm_provider in DEFAULT_EMBEDDING_MODELS and self.embedding_model is not None


def load_llm_settings(**overrides: object) -> LLMSettings:
    """Build the LLM settings alone (``get_settings().llm`` in the application).

    Args:
        **overrides: Field values that win over the environment (``llm_provider="openai"``).

    Returns:
        The validated settings.

    Raises:
        ConfigurationError: A value is invalid; the message names the variable.

    """
    from tg_parser.config import build_settings  # here: tg_parser.config imports this module

    return build_settings(LLMSettings, **overrides)
