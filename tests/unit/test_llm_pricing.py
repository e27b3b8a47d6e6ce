"""Tests of the price table and the cost estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tg_parser.config.llm import DEFAULT_MODELS
from tg_parser.errors import ConfigurationError
from tg_parser.llm.pricing import call_cost, estimate_cost_usd, load_prices, price_for


def test_packaged_table_prices_every_default_model():
    """The packaged table knows the default model of every provider."""
    prices = load_prices()
    for provider, model in DEFAULT_MODELS.items():
        assert price_for(prices, provider=provider, model=model) is not None, (provider, model)


def test_cost_is_tokens_times_price_per_million():
    """Cost = input/1e6 * input price + output/1e6 * output price."""
    prices = load_prices()
    cost = estimate_cost_usd(
        prices, provider="openai", model="gpt-5-mini", input_tokens=1_000_000, output_tokens=500_000
    )
    assert cost == pytest.approx(0.25 + 1.0)


def test_dated_snapshot_matches_longest_prefix():
    """A dated snapshot is priced as its base model, not a shorter prefix."""
    prices = load_prices()
    snap = price_for(prices, provider="openai", model="gpt-5-mini-2025-08-07")
    assert snap == price_for(prices, provider="openai", model="gpt-5-mini")
    assert snap != price_for(prices, provider="openai", model="gpt-5")


def test_unknown_model_has_no_cost():
    """An unknown model gives None rather than a wrong number."""
    assert (
        estimate_cost_usd(
            load_prices(), provider="openai", model="davinci", input_tokens=10, output_tokens=10
        )
        is None
    )


def test_ollama_is_free():
    """Local Ollama models cost nothing."""
    assert (
        estimate_cost_usd(
            load_prices(), provider="ollama", model="qwen2.5:7b", input_tokens=10**6, output_tokens=10**6
        )
        == 0
    )


def test_prices_file_overrides(tmp_path):
    """LLM_PRICES_FILE replaces the packaged table."""
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"openai": {"gpt-5-mini": {"input": 10, "output": 20}}}))
    prices = load_prices(str(path))
    assert (
        estimate_cost_usd(
            prices, provider="openai", model="gpt-5-mini", input_tokens=10**6, output_tokens=10**6
        )
        == 30
    )


@pytest.mark.parametrize("content", ["not json", '{"openai": {"m": {"input": 1}}}'])
def test_malformed_prices_file_is_a_configuration_error(tmp_path, content):
    """A broken price file fails with a ConfigurationError naming it."""
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=r"prices\.json"):
        load_prices(str(path))


def test_batch_halves_every_token_class():
    """Batch mode: the provider's _batch_discount (0.5 for OpenAI) comes off input and output."""
    prices = load_prices()
    sync = call_cost(prices, provider="openai", model="gpt-5-mini", input_tokens=10**6, output_tokens=10**6)
    batch = call_cost(
        prices, provider="openai", model="gpt-5-mini", input_tokens=10**6, output_tokens=10**6, batch=True
    )
    assert sync is not None
    assert batch is not None
    assert sync.cost_usd == pytest.approx(0.25 + 2.0)
    assert batch.cost_usd == pytest.approx(sync.cost_usd / 2)
    assert batch.batch_savings_usd == pytest.approx(sync.cost_usd / 2)
    assert batch.list_cost_usd == pytest.approx(sync.cost_usd)


def test_cache_reads_and_writes_use_their_prices():
    """Anthropic: reads at 0.1x input, writes at 1.25x input; OpenAI reads at its cached price."""
    prices = load_prices()
    claude = call_cost(
        prices,
        provider="anthropic",
        model="claude-haiku-4-5",
        input_tokens=3_000_000,
        output_tokens=0,
        cached_input_tokens=1_000_000,
        cache_write_tokens=1_000_000,
    )
    assert claude is not None
    assert claude.cost_usd == pytest.approx(1.0 + 0.1 + 1.25)
    assert claude.cache_savings_usd == pytest.approx(3.0 - 2.35)
    gpt = call_cost(
        prices,
        provider="openai",
        model="gpt-5-mini",
        input_tokens=1_000_000,
        output_tokens=0,
        cached_input_tokens=1_000_000,
        batch=True,
    )
    assert gpt is not None
    assert gpt.cost_usd == pytest.approx(0.025 / 2)


def test_cached_tokens_never_exceed_input():
    """A provider reporting more cached than input tokens is clamped, not priced negative."""
    cost = call_cost(
        load_prices(),
        provider="openai",
        model="gpt-5",
        input_tokens=100,
        output_tokens=0,
        cached_input_tokens=500,
    )
    assert cost is not None
    assert cost.cost_usd >= 0


def test_every_priced_provider_names_its_source_and_date():
    """The packaged table says where each provider's prices come from and when."""
    raw = json.loads((Path(load_prices.__code__.co_filename).parent / "prices.json").read_text())
    assert raw["_date"]
    for provider in ("openai", "anthropic", "gemini", "ollama"):
        assert raw[provider]["_source"]
        assert "_batch_discount" in raw[provider]
