"""Price table and cost estimate of LLM calls.

The packaged ``prices.json`` holds USD per one million tokens per provider and
model: input, cached input (a prompt-cache read), cache write (Anthropic) and
output, and each provider's batch discount, with the source page of each
provider and the date the table was written (``_source``, ``_date``; check them
before trusting a bill):

* https://openai.com/api/pricing/
* https://www.anthropic.com/pricing#api
* https://ai.google.dev/gemini-api/docs/pricing
* Ollama runs locally: 0.

``LLM_PRICES_FILE`` names a JSON file of the same shape that replaces it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tg_parser.errors import ConfigurationError


@dataclass(frozen=True)
class ModelPrice:
    """Price of one model in USD per one million tokens.

    Attributes:
        input_per_mtok_usd: Input (prompt) tokens not read from a cache.
        output_per_mtok_usd: Output (completion, including reasoning) tokens.
        cached_input_per_mtok_usd: Input tokens read from the provider's prompt cache
            (``None``: the provider's table names none, they cost plain input).
        cache_write_per_mtok_usd: Input tokens written to the cache (Anthropic's 1.25x;
            ``None``: plain input).
        batch_discount: Share taken off every token class in batch mode (0.5 = half price).

    """

    input_per_mtok_usd: float
    output_per_mtok_usd: float
    cached_input_per_mtok_usd: float | None = None
    cache_write_per_mtok_usd: float | None = None
    batch_discount: float = 0.0


@dataclass(frozen=True)
class CallCost:
    """The cost of one call, and what it would have cost at the plain list price.

    Attributes:
        cost_usd: What the call costs: cache reads and writes at their prices, then the
            batch discount.
        list_cost_usd: Every input token at the input price, output at the output price, no batch.
        batch_savings_usd: What the batch discount took off.
        cache_savings_usd: What the cache prices took off (negative when writes cost more
            than the reads saved).

    """

    cost_usd: float
    list_cost_usd: float
    batch_savings_usd: float
    cache_savings_usd: float


PriceTable = dict[str, dict[str, ModelPrice]]
"""provider → model (or model prefix, or ``*``) → price."""


def load_prices(path: str | None = None) -> PriceTable:
    """Load a price table.

    The file is ``{"<provider>": {"_batch_discount": 0.5, "<model>": {"input": usd_per_mtok,
    "output": usd_per_mtok, "cached_input": usd_per_mtok, "cache_write": usd_per_mtok}}}``;
    ``cached_input``, ``cache_write`` and ``_batch_discount`` are optional, keys
    starting with ``_`` are notes (``_source``, ``_date``).

    Args:
        path: A JSON file; ``None`` loads the packaged ``prices.json``.

    Returns:
        The table.

    Raises:
        ConfigurationError: The file is missing or malformed.

    """
    try:
        if path is None:
            text = resources.files("tg_parser.llm").joinpath("prices.json").read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        raw = json.loads(text)
        return {
            provider: {
                model: ModelPrice(
                    float(p["input"]),
                    float(p["output"]),
                    _optional(p.get("cached_input")),
                    _optional(p.get("cache_write")),
                    float(models.get("_batch_discount", 0.0)),
                )
                for model, p in models.items()
                if not model.startswith("_")
            }
            for provider, models in raw.items()
            if not provider.startswith("_")
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        msg = f"LLM_PRICES_FILE {path or 'prices.json'} is unusable: {exc}"
        raise ConfigurationError(msg) from exc


def _optional(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def price_for(prices: PriceTable, *, provider: str, model: str) -> ModelPrice | None:
    """Find the price of a model: exact name, else the longest matching prefix, else ``*``.

    Args:
        prices: The table.
        provider: Provider name.
        model: Model name (dated snapshots such as ``gpt-5-mini-2025-08-07`` match ``gpt-5-mini``).

    Returns:
        The price, or ``None`` when the table has none.

    """
    models = prices.get(provider, {})
    if model in models:
        return models[model]
    prefixes = [name for name in models if name != "*" and model.startswith(name)]
    if prefixes:
        return models[max(prefixes, key=len)]
    return models.get("*")


def estimate_cost_usd(
    prices: PriceTable, *, provider: str, model: str, input_tokens: int, output_tokens: int
) -> float | None:
    """Estimate the cost of a call in US dollars.

    Args:
        prices: The table.
        provider: Provider name.
        model: Model name.
        input_tokens: Prompt tokens.
        output_tokens: Output tokens.

    Returns:
        ``tokens / 1e6 * price`` summed over input and output, or ``None`` for an unknown model.

    """
    price = price_for(prices, provider=provider, model=model)
    if price is None:
        return None
    return (input_tokens * price.input_per_mtok_usd + output_tokens * price.output_per_mtok_usd) / 1_000_000


def call_cost(
    prices: PriceTable,
    *,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
    batch: bool = False,
) -> CallCost | None:
    """Price one call with its cache reads and writes and, in batch mode, the batch discount.

    Args:
        prices: The table.
        provider: Provider name.
        model: Model name.
        input_tokens: All input tokens of the call, cached ones included.
        output_tokens: Output tokens (reasoning included).
        cached_input_tokens: Input tokens read from the prompt cache (part of ``input_tokens``).
        cache_write_tokens: Input tokens written to the cache (part of ``input_tokens``).
        batch: Whether the call went through the provider's batch API.

    Returns:
        The cost, or ``None`` for a model the table does not price.

    """
    price = price_for(prices, provider=provider, model=model)
    if price is None:
        return None
    cached = min(max(cached_input_tokens, 0), input_tokens)
    written = min(max(cache_write_tokens, 0), input_tokens - cached)
    plain = input_tokens - cached - written
    read_price = price.cached_input_per_mtok_usd
    write_price = price.cache_write_per_mtok_usd
    list_cost = (input_tokens * price.input_per_mtok_usd + output_tokens * price.output_per_mtok_usd) / 1e6
    cached_cost = (
        plain * price.input_per_mtok_usd
        + cached * (price.input_per_mtok_usd if read_price is None else read_price)
        + written * (price.input_per_mtok_usd if write_price is None else write_price)
        + output_tokens * price.output_per_mtok_usd
    ) / 1e6
    discount = price.batch_discount if batch else 0.0
    cost = cached_cost * (1.0 - discount)
    return CallCost(
        cost_usd=cost,
        list_cost_usd=list_cost,
        batch_savings_usd=cached_cost - cost,
        cache_savings_usd=list_cost - cached_cost,
    )
