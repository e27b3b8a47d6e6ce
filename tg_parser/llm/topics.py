"""LLM help for topics: a label and summary per topic, and embeddings of texts.

Both are optional; the offline path (top keywords, TF-IDF vectors) stays the
default and needs no provider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from tg_parser.llm.language import output_language
from tg_parser.llm.pricing import PriceTable, estimate_cost_usd
from tg_parser.llm.prompts import TOPIC_LABEL_PROMPT, render_prompt
from tg_parser.llm.structured import ask_structured, estimate_tokens
from tg_parser.processing.base import LLMUsage

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tg_parser.llm.provider import LLMProvider
    from tg_parser.llm.ratelimit import RateLimiter

MAX_SAMPLE_POSTS = 12
"""Sample posts sent per topic, at most."""

MAX_SAMPLE_POST_CHARS = 600
"""Each sample post is cut to this many characters."""


class TopicLabel(BaseModel):
    """An LLM's name for a topic."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(description="Short name of the topic, 2 to 6 words.")
    summary: str = Field(description="One sentence saying what the topic's posts are about.")


def _check_label(answer: TopicLabel) -> str | None:
    if not answer.label.strip():
        return "label: must not be empty"
    if not answer.summary.strip():
        return "summary: must not be empty"
    return None


def label_topic(
    *,
    provider: LLMProvider,
    limiter: RateLimiter,
    prices: PriceTable,
    keywords: Sequence[str],
    sample_posts: Sequence[str],
    output_language_setting: str = "auto",
    max_reasks: int = 2,
) -> tuple[TopicLabel, tuple[LLMUsage, ...]]:
    """Ask the provider for a topic's label and one-line summary.

    Args:
        provider: The provider.
        limiter: Its rate limiter.
        prices: Price table.
        keywords: The topic's top keywords, most characteristic first.
        sample_posts: Texts of some member posts (the first :data:`MAX_SAMPLE_POSTS` are used).
        output_language_setting: ``auto`` (the posts' language) or an ISO 639-1 code.
        max_reasks: Re-asks of an invalid answer.

    Returns:
        The label and one usage entry per call.

    Raises:
        RetryableError: Rate limit, 408/409/429/5xx, timeout, connection loss.
        PermanentError: Other 4xx, or still invalid after the re-asks.

    """
    samples = [p.strip()[:MAX_SAMPLE_POST_CHARS] for p in sample_posts if p.strip()][:MAX_SAMPLE_POSTS]
    _code, language_name = output_language(" ".join(samples), setting=output_language_setting)
    system = render_prompt(TOPIC_LABEL_PROMPT, output_language=language_name)
    user = "Keywords: " + ", ".join(keywords[:20]) + "\n\nSample posts:\n\n"
    user += "\n\n---\n\n".join(samples)
    return ask_structured(
        provider=provider,
        limiter=limiter,
        prices=prices,
        system=system,
        user=user,
        output_model=TopicLabel,
        schema_name="topic_label",
        max_reasks=max_reasks,
        max_output_tokens=512,
        check=_check_label,
    )


def embed_texts(
    *,
    provider: LLMProvider,
    limiter: RateLimiter,
    prices: PriceTable,
    texts: Sequence[str],
    batch_size: int = 64,
) -> tuple[list[list[float]], tuple[LLMUsage, ...]]:
    """Embed texts with the provider's embedding model, in batches.

    Args:
        provider: A provider with an embedding model (OpenAI, Gemini, Ollama).
        limiter: Its rate limiter (one request per batch).
        prices: Price table (embedding models are priced by input tokens).
        texts: Texts to embed; empty texts are sent as a single space.
        batch_size: Texts per request.

    Returns:
        One vector per text in input order, and one usage entry per request.

    Raises:
        ConfigurationError: The provider has no embedding model.
        RetryableError: Rate limit, 408/409/429/5xx, timeout, connection loss.
        PermanentError: Other 4xx.

    """
    vectors: list[list[float]] = []
    usages: list[LLMUsage] = []
    model = provider.embedding_model or provider.model
    for start in range(0, len(texts), batch_size):
        batch = [t if t.strip() else " " for t in texts[start : start + batch_size]]
        estimate = estimate_tokens(*batch, max_output_tokens=0)
        limiter.acquire(tokens=estimate)
        reply = provider.embed(batch)
        limiter.charge(tokens=reply.input_tokens - estimate)
        vectors.extend(reply.vectors)
        usages.append(
            LLMUsage(
                provider=provider.name,
                model=model,
                input_tokens=reply.input_tokens,
                latency_ms=reply.latency_ms,
                cost_usd=estimate_cost_usd(
                    prices,
                    provider=provider.name,
                    model=model,
                    input_tokens=reply.input_tokens,
                    output_tokens=0,
                ),
            )
        )
    return vectors, tuple(usages)
