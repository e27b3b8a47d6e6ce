"""The processor protocol: one post in, one validated :class:`PostAnalysis` out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tg_parser.domain import Message, PostAnalysis


@dataclass(frozen=True)
class LLMUsage:
    """What one provider call cost.

    Attributes:
        provider: ``openai``, ``anthropic``, ``gemini``, ``ollama``.
        model: Model name sent to the provider.
        input_tokens: Prompt tokens the provider reported (0 when unknown).
        output_tokens: Completion tokens the provider reported (0 when unknown).
        latency_ms: Wall time of the call in milliseconds.
        cost_usd: Estimated cost in US dollars from the price table, or ``None``.
        cache_hit: Whether the answer came from the cache (no provider call).
        cached_input_tokens: Input tokens read from the provider's prompt cache (part of
            ``input_tokens``).
        cache_write_tokens: Input tokens written to the prompt cache (Anthropic; part of
            ``input_tokens``).
        reasoning_tokens: Reasoning tokens (part of ``output_tokens``).
        batch: Whether the call went through the provider's batch API.
        list_cost_usd: What the call would cost at the plain list price (no cache, no batch).
        batch_savings_usd: What the batch discount took off.
    """

    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float | None = None
    cache_hit: bool = False
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    batch: bool = False
    list_cost_usd: float | None = None
    batch_savings_usd: float | None = None


@dataclass(frozen=True)
class ProcessingResult:
    """A processor's answer for one post.

    Attributes:
        analysis: The validated structured output.
        clean_text: The post text after cleaning.
        usage: One entry per provider call made (empty for the offline processor).
    """

    analysis: PostAnalysis
    clean_text: str
    usage: tuple[LLMUsage, ...] = field(default=())


@runtime_checkable
class Processor(Protocol):
    """Turns one post into a structured document.

    Attributes:
        name: ``offline`` or the provider name; recorded on every document.
        model: Model name (the offline processor gives its rules version).
        prompt_version: Version of the prompt; part of the cache key.
    """

    name: str
    model: str
    prompt_version: str

    def process(self, message: Message) -> ProcessingResult:
        """Process one post.

        Args:
            message: A post with non-empty text.

        Returns:
            The structured result.

        Raises:
            RetryableError: A transient failure (rate limit, timeout, 5xx).
            PermanentError: Retrying cannot help (4xx, output invalid after re-asks).
        """
        ...
