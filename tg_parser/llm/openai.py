"""OpenAI provider through the official ``openai`` SDK.

gpt-5* models go through the Responses API with ``reasoning.effort`` and
``text.verbosity`` and no sampling parameters; other models through Chat
Completions. :func:`~tg_parser.llm.capabilities.capabilities` decides which.

Sources:
    Responses API: https://platform.openai.com/docs/api-reference/responses/create
    Chat Completions: https://platform.openai.com/docs/api-reference/chat/create
    Structured outputs: https://platform.openai.com/docs/guides/structured-outputs
    Embeddings: https://platform.openai.com/docs/api-reference/embeddings/create
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import openai

from tg_parser.errors import ConfigurationError, PermanentError, RetryableError
from tg_parser.llm.capabilities import capabilities
from tg_parser.llm.failures import error_for_status
from tg_parser.llm.provider import ChatTurn, EmbeddingReply, StructuredReply, timed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from openai.types.chat import ChatCompletion
    from openai.types.responses import Response

RESPONSES_ENDPOINT = "/v1/responses"
"""Endpoint of the Responses API (gpt-5* models), also the ``url`` of a batch request line."""

CHAT_ENDPOINT = "/v1/chat/completions"
"""Endpoint of Chat Completions (other models)."""


class OpenAIProvider:
    """OpenAI chat and embedding models.

    Args:
        model: Chat model (``gpt-5-mini``, ``gpt-4.1``…).
        embedding_model: Embedding model, or ``None``.
        timeout_s: Timeout of one call in seconds.
        temperature: Sent only to models that accept it.
        reasoning_effort: Sent only to reasoning models.
        verbosity: Sent only to gpt-5* (``text.verbosity``).
        max_output_tokens: Cap on output tokens.
        api_key: Key; ``None`` lets the SDK read ``OPENAI_API_KEY``.
        base_url: Endpoint; ``None`` lets the SDK read ``OPENAI_BASE_URL``.

    Raises:
        ConfigurationError: No API key anywhere.

    """

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        embedding_model: str | None = None,
        timeout_s: float = 60.0,
        temperature: float = 0.2,
        reasoning_effort: str = "low",
        verbosity: str = "low",
        max_output_tokens: int = 2048,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        """Initialise; the arguments are described in the class docstring."""
        self.model = model
        self.embedding_model = embedding_model
        self.temperature = temperature
        self.reasoning_effort = reasoning_effort
        self.verbosity = verbosity
        self.max_output_tokens = max_output_tokens
        self.capabilities = capabilities("openai", model)
        try:
            self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0)
        except openai.OpenAIError as exc:
            msg = f"OpenAI client cannot be built (set OPENAI_API_KEY): {exc}"
            raise ConfigurationError(msg) from exc

    def request(
        self, *, system: str, turns: Sequence[ChatTurn], schema: dict[str, Any], schema_name: str
    ) -> tuple[str, dict[str, Any]]:
        """Return the endpoint and body of a structured-output request (sync and batch alike).

        The instructions and the schema come first and the post last, so
        OpenAI's automatic prompt caching (prompts of 1,024 tokens or more)
        applies to the shared prefix.

        Returns:
            ``("/v1/responses", body)`` for gpt-5* models, else ``("/v1/chat/completions", body)``.

        """
        caps = self.capabilities
        if caps.api == "responses":
            params: dict[str, Any] = {
                "model": self.model,
                "instructions": system,
                "input": [{"role": t.role, "content": t.content} for t in turns],
                "text": {
                    "format": {
                        "type": "json_schema",
                        "name": schema_name,
                        "schema": schema,
                        "strict": True,
                    },
                    **({"verbosity": self.verbosity} if caps.verbosity else {}),
                },
                caps.max_tokens_param: self.max_output_tokens,
                "store": False,
            }
            if caps.reasoning_effort:
                params["reasoning"] = {"effort": self.reasoning_effort}
            if caps.temperature:
                params["temperature"] = self.temperature
            return RESPONSES_ENDPOINT, params
        chat: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                *({"role": t.role, "content": t.content} for t in turns),
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            },
            caps.max_tokens_param: self.max_output_tokens,
        }
        if caps.temperature:
            chat["temperature"] = self.temperature
        if caps.reasoning_effort:
            chat["reasoning_effort"] = self.reasoning_effort
        return CHAT_ENDPOINT, chat

    def complete_json(
        self, *, system: str, turns: Sequence[ChatTurn], schema: dict[str, Any], schema_name: str
    ) -> StructuredReply:
        """Ask for JSON matching ``schema`` (strict structured output).

        See :meth:`tg_parser.llm.provider.LLMProvider.complete_json`.
        """
        endpoint, params = self.request(system=system, turns=turns, schema=schema, schema_name=schema_name)
        try:
            if endpoint == RESPONSES_ENDPOINT:
                response, latency_ms = timed(lambda: self._client.responses.create(**params))
                return reply_from_response(response, latency_ms=latency_ms)
            completion, latency_ms = timed(lambda: self._client.chat.completions.create(**params))
            return reply_from_chat(completion, latency_ms=latency_ms)
        except openai.OpenAIError as exc:
            _raise_ours(exc)

    def embed(self, texts: Sequence[str]) -> EmbeddingReply:
        """Embed texts. See :meth:`tg_parser.llm.provider.LLMProvider.embed`."""
        if not self.embedding_model:
            msg = "LLM_EMBEDDING_MODEL is not set for openai"
            raise ConfigurationError(msg)
        model = self.embedding_model
        try:
            response, latency_ms = timed(
                lambda: self._client.embeddings.create(
                    model=model, input=list(texts), encoding_format="float"
                )
            )
        except openai.OpenAIError as exc:
            _raise_ours(exc)
        ordered = sorted(response.data, key=lambda item: item.index)
        return EmbeddingReply(
            vectors=[list(item.embedding) for item in ordered],
            input_tokens=int(getattr(response.usage, "prompt_tokens", 0) or 0),
            latency_ms=latency_ms,
        )


def _raise_ours(exc: openai.OpenAIError) -> NoReturn:
    """Re-raise an SDK error as ours (timeouts and connection errors are retryable)."""
    if isinstance(exc, openai.APIStatusError):
        raise error_for_status(
            provider="openai",
            status=exc.status_code,
            message=str(exc.message),
            headers=exc.response.headers,
        ) from exc
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError is a subclass
        msg = f"openai: {type(exc).__name__}: {exc}"
        raise RetryableError(msg) from exc
    msg = f"openai: {type(exc).__name__}: {exc}"
    raise PermanentError(msg) from exc


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


def reply_from_response(response: Response, *, latency_ms: float = 0.0) -> StructuredReply:
    """Read a Responses API answer: its text and usage, cached and reasoning tokens included.

    Source: ``usage.input_tokens_details.cached_tokens`` and
    ``usage.output_tokens_details.reasoning_tokens`` of
    https://platform.openai.com/docs/api-reference/responses/object
    """
    usage = response.usage
    details = getattr(usage, "input_tokens_details", None)
    cached = getattr(details, "cached_tokens", 0)
    written = getattr(details, "cache_write_tokens", 0)
    reasoning = getattr(getattr(usage, "output_tokens_details", None), "reasoning_tokens", 0)
    return StructuredReply(
        text=response.output_text or "",
        input_tokens=_int(getattr(usage, "input_tokens", 0)),
        output_tokens=_int(getattr(usage, "output_tokens", 0)),
        latency_ms=latency_ms,
        cached_input_tokens=_int(cached),
        cache_write_tokens=_int(written),
        reasoning_tokens=_int(reasoning),
    )


def reply_from_chat(completion: ChatCompletion, *, latency_ms: float = 0.0) -> StructuredReply:
    """Read a Chat Completions answer: its text and usage, cached and reasoning tokens included.

    Source: ``usage.prompt_tokens_details.cached_tokens`` and
    ``usage.completion_tokens_details.reasoning_tokens`` of
    https://platform.openai.com/docs/api-reference/chat/object
    """
    text = ""
    if completion.choices:
        text = completion.choices[0].message.content or ""
    usage = completion.usage
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", 0)
    written = getattr(details, "cache_write_tokens", 0)
    reasoning = getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", 0)
    return StructuredReply(
        text=text,
        input_tokens=_int(getattr(usage, "prompt_tokens", 0)),
        output_tokens=_int(getattr(usage, "completion_tokens", 0)),
        latency_ms=latency_ms,
        cached_input_tokens=_int(cached),
        cache_write_tokens=_int(written),
        reasoning_tokens=_int(reasoning),
    )
