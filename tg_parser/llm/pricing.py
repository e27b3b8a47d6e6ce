"""Price table and cost estimate of LLM calls.

The packaged ``prices.json`` holds USD per one million input and output tokens
per provider and model (list prices of the providers' pricing pages when
written; check them before trusting a bill):

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
        input_per_mtok_usd: Input (prompt) tokens.
        output_per_mtok_usd: Output (completion, including reasoning) tokens.

    """

    input_per_mtok_usd: float
    output_per_mtok_usd: float


PriceTable = dict[str, dict[str, ModelPrice]]
"""provider → model (or model prefix, or ``*``) → price."""


def load_prices(path: str | None = None) -> PriceTable:
    """Load a price table.

    The file is ``{"<provider>": {"<model>": {"input": usd_per_mtok, "output": usd_per_mtok}}}``.

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
                model: ModelPrice(float(p["input"]), float(p["output"]))
                for model, p in models.items()
                if not model.startswith("_")
            }
            for provider, models in raw.items()
            if not provider.startswith("_")
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        msg = f"LLM_PRICES_FILE {path or 'prices.json'} is unusable: {exc}"
        raise ConfigurationError(msg) from exc


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
