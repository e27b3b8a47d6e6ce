"""Ollama provider through the official ``ollama`` SDK.

Structured output with ``format=<JSON schema>``. The SDK has no retries of
its own. Its ``ResponseError`` carries no headers, so the response headers
are captured with an httpx event hook to honour ``Retry-After`` (a proxy in
front of Ollama may send one).

Sources:
    API: https://github.com/ollama/ollama/blob/main/docs/api.md
    Structured outputs: https://ollama.com/blog/structured-outputs
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, NoReturn

import ollama

from tg_parser.errors import RetryableError
from tg_parser.llm._transport import transport_errors
from tg_parser.llm.capabilities import capabilities
from tg_parser.llm.failures import error_for_status
from tg_parser.llm.provider import ChatTurn, EmbeddingReply, StructuredReply, timed

if TYPE_CHECKING:
    from collections.abc import Sequence


class OllamaProvider:
    """Local models served by Ollama.

    Args:
        model: Model name (``llama3.1``, ``qwen2.5:7b``…).
        embedding_model: Embedding model (``nomic-embed-text``), or ``None``.
        timeout_s: Timeout of one call in seconds.
        temperature: Sampling temperature (``options.temperature``).
        max_output_tokens: ``options.num_predict``.
        host: Server; ``None`` lets the SDK read ``OLLAMA_HOST``.

    """

    name = "ollama"

    def __init__(
        self,
        *,
        model: str,
        embedding_model: str | None = None,
        timeout_s: float = 60.0,
        temperature: float = 0.2,
        max_output_tokens: int = 2048,
        host: str | None = None,
    ) -> None:
        """Initialise; the arguments are described in the class docstring."""
        self.model = model
        self.embedding_model = embedding_model
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens
        self.capabilities = capabilities("ollama", model)
        self._last = threading.local()
        self._client = ollama.Client(
            host=host, timeout=timeout_s, event_hooks={"response": [self._remember_headers]}
        )
        self._retryable_errors: tuple[type[BaseException], ...] = (ConnectionError, *transport_errors())

    def _remember_headers(self, response: Any) -> None:
        self._last.headers = dict(response.headers)

    def complete_json(
        self, *, system: str, turns: Sequence[ChatTurn], schema: dict[str, Any], schema_name: str
    ) -> StructuredReply:
        """Ask for JSON matching ``schema``. See :meth:`tg_parser.llm.provider.LLMProvider.complete_json`."""
        del schema_name
        messages = [{"role": "system", "content": system}]
        messages += [{"role": t.role, "content": t.content} for t in turns]
        options: dict[str, Any] = {self.capabilities.max_tokens_param: self.max_output_tokens}
        if self.capabilities.temperature:
            options["temperature"] = self.temperature
        response, latency_ms = self._call(
            lambda: self._client.chat(model=self.model, messages=messages, format=schema, options=options)
        )
        return StructuredReply(
            text=response.message.content or "",
            input_tokens=int(response.prompt_eval_count or 0),
            output_tokens=int(response.eval_count or 0),
            latency_ms=latency_ms,
        )

    def embed(self, texts: Sequence[str]) -> EmbeddingReply:
        """Embed texts with ``/api/embed``. See :meth:`tg_parser.llm.provider.LLMProvider.embed`."""
        model = self.embedding_model or self.model
        response, latency_ms = self._call(lambda: self._client.embed(model=model, input=list(texts)))
        return EmbeddingReply(
            vectors=[list(v) for v in response.embeddings],
            input_tokens=int(response.prompt_eval_count or 0),
            latency_ms=latency_ms,
        )

    def _call(self, call: Any) -> Any:
        self._last.headers = None
        try:
            return timed(call)
        except ollama.ResponseError as exc:
            self._raise_status(exc)
        except self._retryable_errors as exc:
            msg = f"ollama: {type(exc).__name__}: {exc}"
            raise RetryableError(msg) from exc

    def _raise_status(self, exc: ollama.ResponseError) -> NoReturn:
        headers = getattr(self._last, "headers", None)
        raise error_for_status(
            provider="ollama", status=int(exc.status_code), message=str(exc.error), headers=headers
        ) from exc
