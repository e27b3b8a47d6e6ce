"""Which API and which parameters a model accepts: the one place that decides.

Providers never test model names themselves; they ask :func:`capabilities` and
send only what it allows.

Sources:
    * OpenAI gpt-5 family, Responses API with ``reasoning.effort`` and
      ``text.verbosity``, no sampling parameters:
      https://platform.openai.com/docs/guides/latest-model
    * OpenAI o-series reasoning models reject ``temperature`` and take
      ``reasoning_effort``: https://platform.openai.com/docs/guides/reasoning
    * Anthropic Messages API: https://docs.anthropic.com/en/api/messages (the 2.x SDK's
      ``messages.create`` has no ``temperature``)
    * Gemini ``generateContent``: https://ai.google.dev/api/generate-content
    * Ollama ``/api/chat``: https://github.com/ollama/ollama/blob/main/docs/api.md
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ApiKind = Literal["responses", "chat_completions", "messages", "generate_content", "ollama_chat"]


@dataclass(frozen=True)
class ModelCapabilities:
    """What one model accepts.

    Attributes:
        api: The endpoint family to call.
        temperature: Whether a sampling temperature may be sent.
        reasoning_effort: Whether a reasoning effort may be sent.
        verbosity: Whether ``text.verbosity`` may be sent (Responses API only).
        max_tokens_param: Name of the output-token cap parameter of that API.

    """

    api: ApiKind
    temperature: bool
    reasoning_effort: bool
    verbosity: bool
    max_tokens_param: str


_OPENAI_GPT5 = re.compile(r"^gpt-5")
_OPENAI_O_SERIES = re.compile(r"^o\d")


def capabilities(provider: str, model: str) -> ModelCapabilities:
    """Return what ``model`` of ``provider`` accepts.

    Args:
        provider: ``openai``, ``anthropic``, ``gemini`` or ``ollama``.
        model: The model name as sent to the provider.

    Returns:
        The model's capabilities.

    Raises:
        ValueError: For an unknown provider.

    """
    name = model.lower().rsplit("/", 1)[-1]
    if provider == "openai":
        if _OPENAI_GPT5.match(name):
            return ModelCapabilities(
                api="responses",
                temperature=False,
                reasoning_effort=True,
                verbosity=True,
                max_tokens_param="max_output_tokens",
            )
        if _OPENAI_O_SERIES.match(name):
            return ModelCapabilities(
                api="chat_completions",
                temperature=False,
                reasoning_effort=True,
                verbosity=False,
                max_tokens_param="max_completion_tokens",
            )
        return ModelCapabilities(
            api="chat_completions",
            temperature=True,
            reasoning_effort=False,
            verbosity=False,
            max_tokens_param="max_completion_tokens",
        )
    if provider == "anthropic":
        # anthropic SDK 2.x dropped ``temperature`` from ``messages.create``: current
        # Claude models take no sampling parameters.
        return ModelCapabilities(
            api="messages",
            temperature=False,
            reasoning_effort=False,
            verbosity=False,
            max_tokens_param="max_tokens",
        )
    if provider == "gemini":
        return ModelCapabilities(
            api="generate_content",
            temperature=True,
            reasoning_effort=False,
            verbosity=False,
            max_tokens_param="max_output_tokens",
        )
    if provider == "ollama":
        return ModelCapabilities(
            api="ollama_chat",
            temperature=True,
            reasoning_effort=False,
            verbosity=False,
            max_tokens_param="num_predict",
        )
    msg = f"unknown LLM provider {provider!r}"
    raise ValueError(msg)
