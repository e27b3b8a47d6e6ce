"""The provider protocol every LLM backend implements, and its small value types."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

T = TypeVar("T")


@dataclass(frozen=True)
class ChatTurn:
    """One turn of a conversation sent to a provider.

    Attributes:
        role: ``user`` or ``assistant``.
        content: The text of the turn.

    """

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class StructuredReply:
    """A provider's raw answer to a structured-output request.

    Attributes:
        text: The JSON text the model produced (may be invalid; the caller validates).
        input_tokens: Prompt tokens the provider reported (0 when unknown).
        output_tokens: Output tokens the provider reported (0 when unknown).
        latency_ms: Wall time of the call in milliseconds.
        cached_input_tokens: Input tokens read from the prompt cache (part of ``input_tokens``):
            OpenAI ``cached_tokens``, Anthropic ``cache_read_input_tokens``, Gemini
            ``cached_content_token_count``.
        cache_write_tokens: Input tokens written to the cache (Anthropic
            ``cache_creation_input_tokens``; part of ``input_tokens``).
        reasoning_tokens: Reasoning ("thinking") tokens (part of ``output_tokens``).

    """

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class EmbeddingReply:
    """Embeddings of a batch of texts.

    Attributes:
        vectors: One vector per input text, in input order.
        input_tokens: Tokens the provider reported (0 when unknown).
        latency_ms: Wall time of the call in milliseconds.

    """

    vectors: list[list[float]]
    input_tokens: int = 0
    latency_ms: float = 0.0


@runtime_checkable
class LLMProvider(Protocol):
    """One LLM backend reached through its official SDK.

    Implementations: :class:`~tg_parser.llm.openai.OpenAIProvider`,
    :class:`~tg_parser.llm.anthropic.AnthropicProvider`,
    :class:`~tg_parser.llm.gemini.GeminiProvider`,
    :class:`~tg_parser.llm.ollama.OllamaProvider`. SDK-internal retries are
    off in all of them; every call has a timeout.

    Attributes:
        name: Provider name (``openai``…), recorded on documents and usage.
        model: Chat model name.
        embedding_model: Embedding model name, or ``None`` when the provider has none.

    """

    name: str
    model: str
    embedding_model: str | None

    def complete_json(
        self, *, system: str, turns: Sequence[ChatTurn], schema: dict[str, Any], schema_name: str
    ) -> StructuredReply:
        """Ask for a JSON answer that matches ``schema``.

        Args:
            system: System instructions.
            turns: The conversation, starting with a user turn.
            schema: A strict JSON schema (see :func:`tg_parser.llm.schema.strict_json_schema`).
            schema_name: A short identifier of the schema (``post_analysis``).

        Returns:
            The raw answer; the caller validates it.

        Raises:
            RetryableError: 408/409/429/5xx, timeout, connection failure.
            PermanentError: Any other 4xx.

        """
        ...

    def embed(self, texts: Sequence[str]) -> EmbeddingReply:
        """Embed texts with :attr:`embedding_model`.

        Args:
            texts: Non-empty texts.

        Returns:
            One vector per text.

        Raises:
            RetryableError: 408/409/429/5xx, timeout, connection failure.
            PermanentError: Any other 4xx.
            ConfigurationError: The provider has no embedding model.

        """
        ...


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """Run ``call`` and return its result with the wall time in milliseconds.

    Args:
        call: A function of no arguments.

    Returns:
        ``(result, latency_ms)``.

    """
    start = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - start) * 1000.0
