"""Tests of the model capability table."""

from __future__ import annotations

import pytest

from tg_parser.llm.capabilities import capabilities


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5-mini", "gpt-5-nano-2025-08-07", "openai/gpt-5.1"])
def test_gpt5_uses_responses_without_temperature(model):
    """gpt-5* models go to the Responses API with effort and verbosity and no temperature."""
    caps = capabilities("openai", model)
    assert caps.api == "responses"
    assert caps.reasoning_effort
    assert caps.verbosity
    assert not caps.temperature


@pytest.mark.parametrize("model", ["gpt-4.1", "gpt-4o-mini"])
def test_other_openai_models_use_chat_completions_with_temperature(model):
    """Non-reasoning OpenAI models use Chat Completions and accept a temperature."""
    caps = capabilities("openai", model)
    assert caps.api == "chat_completions"
    assert caps.temperature
    assert not caps.verbosity


def test_o_series_rejects_temperature():
    """o-series reasoning models take a reasoning effort, never a temperature."""
    caps = capabilities("openai", "o4-mini")
    assert caps.api == "chat_completions"
    assert caps.reasoning_effort
    assert not caps.temperature


@pytest.mark.parametrize(
    ("provider", "api"),
    [("anthropic", "messages"), ("gemini", "generate_content"), ("ollama", "ollama_chat")],
)
def test_other_providers_have_their_api(provider, api):
    """Each provider maps to its own endpoint family."""
    assert capabilities(provider, "any-model").api == api


def test_unknown_provider_is_refused():
    """An unknown provider name raises instead of guessing."""
    with pytest.raises(ValueError, match="unknown LLM provider"):
        capabilities("mistral", "x")
