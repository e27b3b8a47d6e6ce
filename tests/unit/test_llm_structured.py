# Russian posts are the test data; Cyrillic letters are intended
"""Tests of the ask-validate-re-ask loop with a scripted in-memory provider."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from tg_parser.domain import Message, PostAnalysis
from tg_parser.errors import InputError, PermanentError
from tg_parser.llm import LLMOutputError, LLMProcessor, load_prices
from tg_parser.llm.provider import ChatTurn, EmbeddingReply, LLMProvider, StructuredReply

if TYPE_CHECKING:
    from collections.abc import Sequence

VALID = json.dumps({"language": "ru", "summary": "Кратер в Китае.", "keywords": ["кратер"], "entities": []})


class ScriptedProvider:
    """Answers from a list, recording every conversation it was sent."""

    name = "openai"
    model = "gpt-5-mini"
    embedding_model = None

    def __init__(self, answers: list[str]) -> None:
        """Initialise; the arguments are described in the class docstring."""
        self.answers = list(answers)
        self.calls: list[tuple[str, list[ChatTurn]]] = []

    def complete_json(
        self, *, system: str, turns: Sequence[ChatTurn], schema: dict[str, Any], schema_name: str
    ) -> StructuredReply:
        """Record the call and return the next scripted answer."""
        del schema, schema_name
        self.calls.append((system, list(turns)))
        return StructuredReply(text=self.answers.pop(0), input_tokens=1000, output_tokens=100, latency_ms=5.0)

    def embed(self, texts: Sequence[str]) -> EmbeddingReply:
        """Embeddings are not scripted."""
        raise NotImplementedError


def _post(text: str = "В Китае нашли ударный кратер необычной формы") -> Message:
    return Message(channel_id=1, message_id=42, date=datetime(2024, 12, 4, tzinfo=UTC), text=text)


def test_scripted_provider_is_a_provider():
    """The test double satisfies the provider protocol, so the tests exercise the real contract."""
    assert isinstance(ScriptedProvider([]), LLMProvider)


def test_invalid_answer_is_reasked_with_the_errors():
    """A non-JSON answer is sent back with the problem and the second answer is used."""
    provider = ScriptedProvider(["not json at all", VALID])
    result = LLMProcessor(provider=provider, max_reasks=2).process(_post())
    assert result.analysis == PostAnalysis.model_validate_json(VALID)
    assert len(result.usage) == 2
    _system, turns = provider.calls[1]
    assert [t.role for t in turns] == ["user", "assistant", "user"]
    assert turns[1].content == "not json at all"
    assert "not valid" in turns[2].content


def test_empty_summary_counts_as_invalid():
    """An answer that validates but has an empty summary is asked again."""
    empty = json.dumps({"language": "ru", "summary": " ", "keywords": [], "entities": []})
    provider = ScriptedProvider([empty, VALID])
    result = LLMProcessor(provider=provider).process(_post())
    assert result.analysis.summary == "Кратер в Китае."
    assert "summary" in provider.calls[1][1][2].content


def test_still_invalid_after_max_reasks_is_permanent_with_usage():
    """After LLM_MAX_REASKS re-asks the processor gives up with a PermanentError carrying all usage."""
    provider = ScriptedProvider(['{"language": 1}'] * 3)
    with pytest.raises(LLMOutputError) as info:
        LLMProcessor(provider=provider, max_reasks=2).process(_post())
    assert isinstance(info.value, PermanentError)
    assert len(provider.calls) == 3
    assert len(info.value.usage) == 3


def test_zero_reasks_means_one_call():
    """LLM_MAX_REASKS=0 makes exactly one call."""
    provider = ScriptedProvider(["{}"])
    with pytest.raises(LLMOutputError):
        LLMProcessor(provider=provider, max_reasks=0).process(_post())
    assert len(provider.calls) == 1


def test_usage_carries_provider_model_and_cost():
    """Each usage entry names provider and model and prices the tokens."""
    result = LLMProcessor(provider=ScriptedProvider([VALID]), prices=load_prices()).process(_post())
    (usage,) = result.usage
    assert (usage.provider, usage.model, usage.input_tokens, usage.output_tokens) == (
        "openai",
        "gpt-5-mini",
        1000,
        100,
    )
    assert usage.cost_usd == pytest.approx((1000 * 0.25 + 100 * 2.0) / 1e6)


def test_russian_post_is_answered_in_russian_unless_configured():
    """The system prompt asks for Russian for a Russian post, English when LLM_OUTPUT_LANGUAGE=en."""
    provider = ScriptedProvider([VALID, VALID])
    LLMProcessor(provider=provider).process(_post())
    LLMProcessor(provider=provider, output_language="en").process(_post())
    assert "in Russian" in provider.calls[0][0]
    assert "in English" in provider.calls[1][0]


def test_post_without_text_is_an_input_error():
    """A post with no visible text is refused before any call."""
    provider = ScriptedProvider([VALID])
    with pytest.raises(InputError):
        LLMProcessor(provider=provider).process(_post(" \n\t "))
    assert provider.calls == []


def test_clean_text_is_returned():
    """The result carries the cleaned post text."""
    result = LLMProcessor(provider=ScriptedProvider([VALID])).process(
        _post("  Кратер   в Китае \n\n\n\nфото  ")
    )
    assert result.clean_text == "Кратер в Китае\n\nфото"
