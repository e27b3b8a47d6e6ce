"""Anthropic provider through the official ``anthropic`` SDK.

Structured output by forced tool use: one tool whose ``input_schema`` is the
output schema, and ``tool_choice`` naming it, so the answer is the tool input.
Anthropic has no embeddings API; :meth:`AnthropicProvider.embed` says so.

Sources:
    Messages API: https://docs.anthropic.com/en/api/messages
    Forced tool use for JSON: https://docs.anthropic.com/en/docs/build-with-claude/tool-use#forcing-tool-use
    Errors and retry-after: https://docs.anthropic.com/en/api/errors
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NoReturn

import anthropic

from tg_parser.errors import ConfigurationError, PermanentError, RetryableError
from tg_parser.llm.capabilities import capabilities
from tg_parser.llm.failures import error_for_status
from tg_parser.llm.provider import ChatTurn, EmbeddingReply, StructuredReply, timed

if TYPE_CHECKING:
    from collections.abc import Sequence


class AnthropicProvider:
    """Anthropic Claude models.

    Args:
        model: Model name (``claude-haiku-4-5``…).
        embedding_model: Ignored (no embeddings API); kept for a uniform constructor.
        timeout_s: Timeout of one call in seconds.
        temperature: Sampling temperature.
        max_output_tokens: ``max_tokens`` of the answer.
        api_key: Key; ``None`` lets the SDK read ``ANTHROPIC_API_KEY``.
        base_url: Endpoint; ``None`` lets the SDK read ``ANTHROPIC_BASE_URL``.

    Raises:
        ConfigurationError: The client cannot be built.

    """

    name = "anthropic"

    def __init__(
        self,
        *,
        model: str,
        embedding_model: str | None = None,
        timeout_s: float = 60.0,
        temperature: float = 0.2,
        max_output_tokens: int = 2048,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        """Initialise; the arguments are described in the class docstring."""
        del embedding_model
        self.model = model
        self.embedding_model: str | None = None
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens
        self.capabilities = capabilities("anthropic", model)
        try:
            self._client = anthropic.Anthropic(
                api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0
            )
        except anthropic.AnthropicError as exc:
            msg = f"Anthropic client cannot be built (set ANTHROPIC_API_KEY): {exc}"
            raise ConfigurationError(msg) from exc

    def request(
        self, *, system: str, turns: Sequence[ChatTurn], schema: dict[str, Any], schema_name: str
    ) -> dict[str, Any]:
        """Return the Messages API parameters of a structured-output request (sync and batch alike)."""
        params: dict[str, Any] = {
            "model": self.model,
            # The static prefix (tool schema, then instructions) is marked for the
            # prompt cache; the post comes last, in the user turn. Source:
            # https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": t.role, "content": t.content} for t in turns],
            self.capabilities.max_tokens_param: self.max_output_tokens,
            "tools": [
                {
                    "name": schema_name,
                    "description": "Record the structured answer. Its input is the whole answer.",
                    "input_schema": schema,
                }
            ],
            "tool_choice": {"type": "tool", "name": schema_name},
        }
        if self.capabilities.temperature:
            params["temperature"] = self.temperature
        return params

    def complete_json(
        self, *, system: str, turns: Sequence[ChatTurn], schema: dict[str, Any], schema_name: str
    ) -> StructuredReply:
        """Ask for JSON matching ``schema`` through a forced tool call.

        See :meth:`tg_parser.llm.provider.LLMProvider.complete_json`.
        """
        params = self.request(system=system, turns=turns, schema=schema, schema_name=schema_name)
        try:
            message, latency_ms = timed(lambda: self._client.messages.create(**params))
        except anthropic.AnthropicError as exc:
            _raise_ours(exc)
        return reply_from_message(message, schema_name=schema_name, latency_ms=latency_ms)

    def embed(self, texts: Sequence[str]) -> EmbeddingReply:
        """Anthropic offers no embeddings API.

        Raises:
            ConfigurationError: Always; use another provider for embeddings.

        """
        del texts
        msg = "anthropic has no embeddings API; topics use the offline vectors with this provider"
        raise ConfigurationError(msg)


def _raise_ours(exc: anthropic.AnthropicError) -> NoReturn:
    """Re-raise an SDK error as ours (timeouts and connection errors are retryable)."""
    if isinstance(exc, anthropic.APIStatusError):
        raise error_for_status(
            provider="anthropic",
            status=exc.status_code,
            message=str(exc.message),
            headers=exc.response.headers,
        ) from exc
    if isinstance(exc, anthropic.APIConnectionError):
        msg = f"anthropic: {type(exc).__name__}: {exc}"
        raise RetryableError(msg) from exc
    msg = f"anthropic: {type(exc).__name__}: {exc}"
    raise PermanentError(msg) from exc


def reply_from_message(message: Any, *, schema_name: str, latency_ms: float = 0.0) -> StructuredReply:
    """Read a Messages API answer: the forced tool call's input as JSON text, and the usage.

    Anthropic's ``input_tokens`` leaves out cache reads and writes
    (``cache_read_input_tokens``, ``cache_creation_input_tokens``); ours counts all input.
    Source: https://docs.anthropic.com/en/api/messages (``usage``).
    """
    text = ""
    for block in message.content:
        if block.type == "tool_use" and block.name == schema_name:
            text = json.dumps(block.input, ensure_ascii=False)
            break
    else:
        text = "".join(getattr(block, "text", "") for block in message.content)
    usage = message.usage
    read = int(getattr(usage, "cache_read_input_tokens", 0) or 0)
    written = int(getattr(usage, "cache_creation_input_tokens", 0) or 0)
    return StructuredReply(
        text=text,
        input_tokens=int(getattr(usage, "input_tokens", 0) or 0) + read + written,
        output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        latency_ms=latency_ms,
        cached_input_tokens=read,
        cache_write_tokens=written,
    )
