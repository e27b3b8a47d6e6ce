"""Gemini provider through the official ``google-genai`` SDK.

Structured output with ``response_mime_type="application/json"`` and
``response_json_schema``. SDK retries are off: ``HttpRetryOptions(attempts=1)``
(with no retry options at all the SDK still retries connection errors
implicitly). The endpoint can be moved with ``GOOGLE_GEMINI_BASE_URL`` (read by
the SDK) or :attr:`LLMSettings.gemini_base_url`.

Sources:
    generateContent: https://ai.google.dev/api/generate-content
    Structured output: https://ai.google.dev/gemini-api/docs/structured-output
    Embeddings: https://ai.google.dev/api/embeddings
    SDK options: https://googleapis.github.io/python-genai/genai.html#genai.types.HttpOptions
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tg_parser.errors import ConfigurationError, PermanentError, RetryableError
from tg_parser.llm._transport import transport_errors
from tg_parser.llm.capabilities import capabilities
from tg_parser.llm.failures import error_for_status
from tg_parser.llm.provider import ChatTurn, EmbeddingReply, StructuredReply, timed

if TYPE_CHECKING:
    from collections.abc import Sequence


GEMINI_API_VERSION = "v1beta"
"""API version called: ``response_json_schema`` is documented for ``v1beta``
(the SDK's own default became ``v1``)."""


class GeminiProvider:
    """Google Gemini models (Gemini Developer API).

    Args:
        model: Model name (``gemini-2.5-flash``…).
        embedding_model: Embedding model (``gemini-embedding-001``), or ``None``.
        timeout_s: Timeout of one call in seconds.
        temperature: Sampling temperature.
        max_output_tokens: Cap on output tokens.
        api_key: Key; ``None`` lets the SDK read ``GOOGLE_API_KEY``/``GEMINI_API_KEY``.
        base_url: Endpoint; ``None`` lets the SDK read ``GOOGLE_GEMINI_BASE_URL``.

    Raises:
        ConfigurationError: No API key anywhere.

    """

    name = "gemini"

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
        self.model = model
        self.embedding_model = embedding_model
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens
        self.capabilities = capabilities("gemini", model)
        options = types.HttpOptions(
            base_url=base_url,
            api_version=GEMINI_API_VERSION,
            timeout=max(1, int(timeout_s * 1000)),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        try:
            self._client = genai.Client(api_key=api_key, http_options=options)
        except ValueError as exc:
            msg = f"Gemini client cannot be built (set GEMINI_API_KEY): {exc}"
            raise ConfigurationError(msg) from exc
        self._transport_errors = transport_errors()

    def complete_json(
        self, *, system: str, turns: Sequence[ChatTurn], schema: dict[str, Any], schema_name: str
    ) -> StructuredReply:
        """Ask for JSON matching ``schema``. See :meth:`tg_parser.llm.provider.LLMProvider.complete_json`."""
        del schema_name
        contents = [
            types.Content(
                role="model" if t.role == "assistant" else "user", parts=[types.Part(text=t.content)]
            )
            for t in turns
        ]
        config = self.config(system=system, schema=schema)
        try:
            response, latency_ms = timed(
                lambda: self._client.models.generate_content(
                    model=self.model, contents=contents, config=config
                )
            )
        except genai_errors.APIError as exc:
            _raise_ours(exc)
        except self._transport_errors as exc:
            msg = f"gemini: {type(exc).__name__}: {exc}"
            raise RetryableError(msg) from exc
        return reply_from_response(response, latency_ms=latency_ms)

    def config(self, *, system: str, schema: dict[str, Any]) -> types.GenerateContentConfig:
        """Return the ``generateContent`` config of a structured request (shared with batch mode)."""
        return types.GenerateContentConfig(
            system_instruction=system,
            response_mime_type="application/json",
            response_json_schema=schema,
            max_output_tokens=self.max_output_tokens,
            temperature=self.temperature if self.capabilities.temperature else None,
        )

    def embed(self, texts: Sequence[str]) -> EmbeddingReply:
        """Embed texts with ``embed_content``. See :meth:`tg_parser.llm.provider.LLMProvider.embed`."""
        if not self.embedding_model:
            msg = "LLM_EMBEDDING_MODEL is not set for gemini"
            raise ConfigurationError(msg)
        model = self.embedding_model
        # Typed as the SDK's parts (its union holds PIL images when Pillow is installed; list is invariant).
        contents: list[types.PartUnion] = [*texts]
        try:
            response, latency_ms = timed(
                lambda: self._client.models.embed_content(model=model, contents=contents)
            )
        except genai_errors.APIError as exc:
            _raise_ours(exc)
        except self._transport_errors as exc:
            msg = f"gemini: {type(exc).__name__}: {exc}"
            raise RetryableError(msg) from exc
        vectors = [list(e.values or []) for e in (response.embeddings or [])]
        return EmbeddingReply(vectors=vectors, input_tokens=0, latency_ms=latency_ms)


def reply_from_response(response: types.GenerateContentResponse, *, latency_ms: float) -> StructuredReply:
    """Read a ``generateContent`` answer (synchronous, or one answer of a batch).

    Cached tokens are part of ``prompt_token_count``; thinking tokens are billed as output.
    """
    usage = response.usage_metadata
    output_tokens = input_tokens = cached = reasoning = 0
    if usage is not None:
        input_tokens = int(usage.prompt_token_count or 0)
        cached = int(usage.cached_content_token_count or 0)  # part of prompt_token_count
        reasoning = int(usage.thoughts_token_count or 0)
        output_tokens = int(usage.candidates_token_count or 0) + reasoning
    try:
        text = response.text or ""
    except (ValueError, AttributeError):
        text = ""
    return StructuredReply(
        text=text,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=latency_ms,
        cached_input_tokens=cached,
        reasoning_tokens=reasoning,
    )


def _raise_ours(exc: genai_errors.APIError) -> NoReturn:
    """Re-raise an SDK API error as ours, reading ``Retry-After`` from the response."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    status = int(exc.code or 0)
    if status:
        raise error_for_status(
            provider="gemini", status=status, message=str(exc.message or exc), headers=headers
        ) from exc
    msg = f"gemini: {exc}"
    raise PermanentError(msg) from exc
